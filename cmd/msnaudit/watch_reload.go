package main

// What the watch does with signals and with its outputs so that nothing it
// counted is lost:
//
//   - SIGHUP reads --rules again. The auditor keeps every count and goes on
//     with the new table (classify.Auditor.SetRules): flows judged from then
//     on, new ones and those still open, use it. A table that does not
//     parse, or drops a feature or a URL row of the one in use (their counts
//     would have nowhere to go), is refused in one line on standard error
//     and the rules in use stay.
//   - SIGINT, SIGTERM and --duration stop the watch and write the final
//     report (runWatch's loop).
//   - A standard output that goes away (the reader of a pipe exits: EPIPE
//     instead of death by SIGPIPE, or the terminal hangs up) stops the watch
//     as SIGTERM would; the final report goes to -o as usual or, without -o,
//     to standard error. It is noticed when an event line or a redraw fails,
//     and between them by polling the descriptor.
//   - When the final report cannot be written where it belongs (-o on a full
//     disk, standard output gone), it is written to standard error too.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/msnaudit/msnaudit/classify"
)

// rulesReloader is an engine that selects packets in the kernel by the rule
// table (the eBPF engine's port classes, AF_PACKET's socket filters) and can
// take a new one.
type rulesReloader interface {
	reloadRules(rs *classify.Rules) error
}

// watchGuard carries the watch's signals and guards its standard output.
type watchGuard struct {
	o      *watchOptions
	stdout io.Writer // as given
	out    io.Writer // what the view writes to: a failure stops the watch
	stderr io.Writer
	warn   func(string, ...any)
	rules  *classify.Rules // in use
	hup    chan os.Signal
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	gone error // why standard output is gone; nil while it is not
}

// stdoutPollInterval is how often a quiet watch looks whether its standard
// output is still read.
const stdoutPollInterval = 500 * time.Millisecond

// sigpipe is notified once for the process and never stopped: a write to a
// standard output whose reader has gone then fails with EPIPE instead of
// killing the process (Go's default for descriptors 1 and 2), including
// the final report's.
var sigpipe sync.Once

// startWatchGuard starts catching SIGHUP and watching standard output. The
// context it returns ends with ctx or when standard output goes away. stop
// must be called when the watch ends.
func startWatchGuard(ctx context.Context, o *watchOptions, rs *classify.Rules, stdout, stderr io.Writer, warn func(string, ...any)) (context.Context, *watchGuard) {
	sigpipe.Do(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) })
	ctx, cancel := context.WithCancel(ctx)
	g := &watchGuard{o: o, stdout: stdout, stderr: stderr, warn: warn, rules: rs,
		hup: make(chan os.Signal, 1), cancel: cancel, done: make(chan struct{})}
	g.out = guardedWriter{g}
	signal.Notify(g.hup, syscall.SIGHUP)
	if f, ok := stdout.(*os.File); ok {
		g.wg.Go(func() {
			t := time.NewTicker(stdoutPollInterval)
			defer t.Stop()
			for {
				select {
				case <-g.done:
					return
				case <-t.C:
					if err := outputGone(f); err != nil {
						g.lost(err)
						return
					}
				}
			}
		})
	}
	return ctx, g
}

// stop ends what startWatchGuard started, its context too.
func (g *watchGuard) stop() {
	signal.Stop(g.hup)
	close(g.done)
	g.wg.Wait()
	g.cancel()
}

// guardedWriter writes to standard output until that fails; then it
// swallows what it is given, and the watch stops.
type guardedWriter struct{ g *watchGuard }

func (w guardedWriter) Write(p []byte) (int, error) {
	if w.g.stdoutGone() != nil {
		return len(p), nil
	}
	if _, err := w.g.stdout.Write(p); err != nil {
		w.g.lost(err)
	}
	return len(p), nil
}

func (g *watchGuard) stdoutGone() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gone
}

// lost records that standard output is gone, says so once and stops the
// watch.
func (g *watchGuard) lost(err error) {
	g.mu.Lock()
	first := g.gone == nil
	if first {
		g.gone = err
	}
	g.mu.Unlock()
	if first {
		g.warn("standard output is gone (%v): stopping; the final report goes to %s", err, g.reportPlace())
		g.cancel()
	}
}

func (g *watchGuard) reportPlace() string {
	if g.o.output != "" {
		return g.o.output
	}
	return "standard error"
}

// poll applies a pending SIGHUP: called from the watch's loop, which owns
// the auditor and the metrics' observe state.
func (g *watchGuard) poll(a *classify.Auditor, m *metrics, engine any) {
	select {
	case <-g.hup:
		g.reload(a, m, engine)
	default:
	}
}

// reload reads --rules again and gives the new table to the auditor, the
// metrics and the engine.
func (g *watchGuard) reload(a *classify.Auditor, m *metrics, engine any) {
	if g.o.rules == "" {
		g.warn("SIGHUP: no --rules file to read again; the built-in table stays")
		return
	}
	// Refusals are said even with --quiet: they answer what someone asked.
	refuse := func(err error) {
		fmt.Fprintf(g.stderr, "msnaudit: SIGHUP: %v; the rules in use stay\n", err)
	}
	rs, err := loadRules(g.o.rules)
	if err != nil {
		refuse(err)
		return
	}
	if err := a.SetRules(rs); err != nil {
		refuse(fmt.Errorf("%s: %w", g.o.rules, err))
		return
	}
	g.rules = rs
	if m != nil {
		m.setRules(rs)
	}
	g.warn("SIGHUP: rules read again from %s (%d features, %d URL rows): flows judged from now on use them; the counts so far stay",
		g.o.rules, len(rs.Features), len(rs.URLs))
	if r, ok := engine.(rulesReloader); ok {
		if err := r.reloadRules(rs); err != nil {
			g.warn("SIGHUP: the capture engine keeps selecting packets by the old rules (%v)", err)
		}
	}
}

// writeReport writes the final report: to -o, or to standard output; and
// to standard error when that fails or standard output is gone, so that it
// is not lost.
func (g *watchGuard) writeReport(r *classify.Report, color bool) error {
	o := g.o
	if o.output != "" {
		err := writeWatchReport(o, r, g.stdout, color)
		if err != nil {
			fmt.Fprintf(g.stderr, "msnaudit: %v; the final report follows on standard error\n", err)
			render(g.stderr, r, o.format, false)
		}
		return err
	}
	if g.stdoutGone() == nil {
		w := &errWriter{w: g.stdout}
		err := render(w, r, o.format, color)
		if err == nil {
			err = w.err
		}
		if err == nil {
			return nil
		}
		fmt.Fprintf(g.stderr, "msnaudit: standard output is gone (%v); the final report follows on standard error\n", err)
	}
	return render(g.stderr, r, o.format, false)
}

// errWriter remembers the first error of the writes through it.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// setRules gives the series of the features and URL rows a reloaded rule
// table adds (at zero; the others keep their values) and the new title to
// build_info. Called from observe's goroutine.
func (m *metrics) setRules(rs *classify.Rules) {
	for _, f := range rs.Features {
		n := len(m.features)
		if m.features = labelSlot(m.featIdx, m.features, f.Name); len(m.features) > n {
			m.attempts = append(m.attempts, make([]monoCounter, len(metricOutcomes)))
			m.possible = append(m.possible, monoCounter{})
			m.featVerdicts = append(m.featVerdicts, classify.NotSeen)
		}
	}
	for _, u := range rs.URLs {
		n := len(m.urls)
		if m.urls = labelSlot(m.urlIdx, m.urls, u.URL); len(m.urls) > n {
			m.urlTries = append(m.urlTries, monoCounter{})
			m.urlFails = append(m.urlFails, monoCounter{})
			m.urlVerdicts = append(m.urlVerdicts, classify.NotSeen)
		}
	}
	m.build = prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, labelValue(version), labelValue(rs.Title))
	samples := m.render()
	m.mu.Lock()
	m.samples = samples
	m.mu.Unlock()
}
