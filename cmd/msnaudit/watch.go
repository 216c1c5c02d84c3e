package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/bpf"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

// watchOptions are the watch's flags, validated in one place.
type watchOptions struct {
	ifaces     []string
	bufferMB   int // --buffer; 0: each engine's default
	workers    int
	allTraffic bool
	interval   time.Duration
	duration   time.Duration
	format     string
	output     string
	pcapng     string
	rules      string
	metrics    string
	color      string
	quiet      bool
	engine     string // auto, afpacket or ebpf (watch_ebpf.go)
	ebpfAttach string // --ebpf-attach: auto, tcx or tc
	user       string // --user: run as this user once the capture is live (watch_privs_linux.go)
	cfg        classify.Config
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parseWatchFlags(args []string, stderr io.Writer) (*watchOptions, error) {
	o := &watchOptions{cfg: classify.DefaultConfig()}
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: msnaudit watch -i IFACE [-i IFACE...] [flags]

Watches live traffic (--engine: eBPF where it loads, else AF_PACKET with CAP_NET_RAW) and
grades it like audit. On a
terminal the feature table is redrawn every --interval; otherwise one line (NDJSON with
--format json) is printed per newly failed attempt. SIGINT, SIGTERM or --duration stop it
and print the final report (--format, -o) with audit's exit status; so does a standard
output that goes away (a pipe's reader exits), the report then going to -o or standard
error. SIGHUP reads --rules again (see --rules). Once the capture is live the watch drops
every capability (and with --user becomes that user) before reading a packet.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.Var((*stringList)(&o.ifaces), "i", "capture on `IFACE` (repeatable; \"any\" for every interface)")
	fs.IntVar(&o.bufferMB, "buffer", 0, "kernel ring in `MiB`: AF_PACKET's per interface (default 64); the ebpf engine's one ring buffer "+
		"(events for user space; the kernel counts every packet whatever its size), rounded up to a power of two, at most 2048 (default 4)")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "capture sockets per interface (a fanout group keeps each flow on one)")
	fs.BoolVar(&o.allTraffic, "all-traffic", false, "install no socket filter: read every packet, not only Messenger ports, DNS, ICMP errors and TCP handshakes")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "redraw (terminal) or look for new failures this often")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	fs.StringVar(&o.format, "format", "table", "final report `format`: table, json, markdown or csv (json also makes the events NDJSON)")
	fs.StringVar(&o.output, "o", "", "write the final report to `FILE` instead of standard output")
	fs.StringVar(&o.pcapng, "w", "", "write the packets read to `FILE` as pcapng (for a later msnaudit audit)")
	fs.StringVar(&o.rules, "rules", "", "read the rule table from `FILE` instead of the built-in KB 960820 table; SIGHUP reads it again: "+
		"the counts so far stay and flows judged from then on (new and still open) use the new table, which may add features and URL rows "+
		"and change anything else but not drop one; a table that does not parse or drops one is refused (one line on standard error) and the old one stays")
	fs.StringVar(&o.user, "user", "", "once the capture is live, switch to user `NAME` (its uid, gid and groups; as root); -o, -w and --rules must be reachable by it")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (a bare port binds 127.0.0.1)")
	fs.StringVar(&o.color, "color", "auto", "colour the table: auto (on a terminal), always or never")
	fs.BoolVar(&o.quiet, "quiet", false, "print no status lines or warnings on standard error")
	fs.StringVar(&o.engine, "engine", engineAuto, "capture `engine`: afpacket, ebpf (count every packet in the kernel, name this host's own drops; kernel BTF, CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN) or auto (ebpf, else afpacket)")
	fs.StringVar(&o.ebpfAttach, "ebpf-attach", attachAuto, "`mode` the ebpf engine attaches to the interfaces with: tcx (TCX links, Linux 6.6), tc (bpf filters on a clsact qdisc, "+
		"for older kernels; a helper process keeps CAP_NET_ADMIN to remove them when the watch ends, even if it is killed) or auto (tcx, else tc)")
	fs.BoolVar(&o.cfg.AllFlows, "all-flows", false, "list every flow, not only Messenger and possible ones")
	addAuditorFlags(fs, &o.cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitError{exitOK}
		}
		return nil, exitError{exitUsage}
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Sprintf("watch takes no arguments (got %q); give interfaces with -i", fs.Arg(0))}
	case len(o.ifaces) == 0:
		return nil, usageError{"watch needs at least one interface (-i IFACE, or -i any)"}
	case !oneOf(o.format, "table", "json", "markdown", "csv"):
		return nil, usageError{fmt.Sprintf("--format %q is not table, json, markdown or csv", o.format)}
	case !oneOf(o.color, "auto", "always", "never"):
		return nil, usageError{fmt.Sprintf("--color %q is not auto, always or never", o.color)}
	case !oneOf(o.engine, engineAuto, engineAFPacket, engineEBPF):
		return nil, usageError{fmt.Sprintf("--engine %q is not auto, afpacket or ebpf", o.engine)}
	case !oneOf(o.ebpfAttach, attachAuto, attachTCX, attachTC):
		return nil, usageError{fmt.Sprintf("--ebpf-attach %q is not auto, tcx or tc", o.ebpfAttach)}
	case o.bufferMB < 0 || o.workers <= 0:
		return nil, usageError{"--buffer and --workers must be positive"}
	case o.engine == engineEBPF && uint64(o.bufferMB)<<20 > maxRingBuffer:
		return nil, usageError{fmt.Sprintf("--buffer %d: the ebpf engine's ring buffer is at most %d MiB", o.bufferMB, maxRingBuffer>>20)}
	case o.interval <= 0 || o.duration < 0:
		return nil, usageError{"--interval must be positive and --duration not negative"}
	case o.cfg.MaxFlows <= 0 || o.cfg.MaxListed <= 0 || o.cfg.MaxReassembly <= 0:
		return nil, usageError{"--max-flows, --max-listed and --max-reassembly must be positive"}
	case o.cfg.IdleTimeout <= 0 || o.cfg.Grace < 0:
		return nil, usageError{"--idle-timeout must be positive and --grace not negative"}
	}
	return o, nil
}

// watchDrain bounds how long the watch goes on reading, once told to stop,
// the packets already captured.
const watchDrain = time.Second

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseWatchFlags(args, stderr)
	if err != nil {
		return err
	}
	rs, err := loadRules(o.rules)
	if err != nil {
		return err
	}
	o.cfg.Rules = rs
	lopts := capture.LiveOptions{BufferMB: o.bufferMB, Workers: o.workers, Promiscuous: true}
	if lopts.BufferMB == 0 {
		lopts.BufferMB = 64
	}
	what := "every packet (--all-traffic)"
	if !o.allTraffic {
		if _, err := classify.SocketFilter(rs); err != nil {
			return err
		}
		lopts.Filter = socketFilter(rs)
		what = "Messenger ports, DNS, ICMP errors and TCP handshakes"
	}
	warn := func(format string, a ...any) {
		if !o.quiet {
			fmt.Fprintf(stderr, "msnaudit: "+format+"\n", a...)
		}
	}
	// SIGHUP, a standard output that goes away, the final report (watch_reload.go).
	ctx, guard := startWatchGuard(ctx, o, rs, stdout, stderr, warn)
	defer guard.stop()

	mctx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	var m *metrics
	var metricsDone <-chan error
	if o.metrics != "" {
		m = newMetrics(rs)
		bound, done, err := serveMetrics(mctx, o.metrics, m)
		if err != nil {
			return err
		}
		metricsDone = done
		warn("metrics on http://%s/metrics", bound)
	}

	src, err := openLiveEngine(o, rs, lopts, what, warn)
	if err != nil {
		return err
	}
	defer src.Close()
	var out *pcapngFile
	if o.pcapng != "" {
		if out, err = createPcapng(o.pcapng, src.Interfaces()); err != nil {
			return err
		}
		defer out.abort()
	}
	// The capture is live: no privilege is needed from here on (watch_privs_linux.go).
	if err := dropPrivileges(o.user); err != nil {
		return err
	}
	if err := checkOutputsWritable(o.user, map[string]string{"-o": o.output, "-w": o.pcapng}); err != nil {
		return err
	}
	warn("watching %s (%s)", strings.Join(o.ifaces, ", "), src.about())

	a := classify.NewAuditor(o.cfg)
	color := o.color == "always" || o.color == "auto" && isTerminal(stdout)
	view := &watchView{w: guard.out, tty: isTerminal(stdout), json: o.format == "json", color: color, seen: map[string]bool{}, ifaces: o.ifaces}
	health := func() []liveHealth {
		st, _ := src.Stats()
		h := make([]liveHealth, len(st))
		for i, s := range st {
			h[i] = liveHealth{Interface: s.Name, KernelPackets: s.Packets, KernelDrops: s.Drops}
		}
		return h
	}

	start := time.Now()
	next := start.Add(o.interval)
	var deadline time.Time
	if o.duration > 0 {
		deadline = start.Add(o.duration)
	}
	var p capture.Packet
	var srcErr error
	checkAt := int64(0) // packet time of the next clock check
	stopping, stopAt := false, time.Time{}
	for {
		err := src.next(a, &p)
		if err == nil {
			a.Packet(&p)
			out.write(&p, warn)
			if p.Time < checkAt {
				continue
			}
			checkAt = p.Time + int64(100*time.Millisecond)
		} else if !errors.Is(err, capture.ErrIdle) {
			srcErr = err
			break
		} else if stopping {
			break // every packet already captured is read
		}
		now := time.Now()
		if stopping {
			if now.Sub(stopAt) > watchDrain {
				break
			}
			continue
		}
		if ctx.Err() != nil || !deadline.IsZero() && !now.Before(deadline) {
			stopping, stopAt = true, now
			continue
		}
		if metricsDone != nil {
			select {
			case err := <-metricsDone:
				warn("%v; the watch goes on without metrics", err)
				metricsDone = nil
			default:
			}
		}
		guard.poll(a, m, src) // a SIGHUP reads --rules again
		if !now.Before(next) {
			next = now.Add(o.interval)
			if err := src.tick(a, now); err != nil {
				srcErr = err
				break
			}
			a.Advance(now.UnixNano())
			snap := a.Snapshot(o.ifaces)
			if m != nil {
				m.observe(snap, health(), a.Stats().Open, a.Stats().Evicted)
			}
			if err := view.update(snap, now); err != nil {
				return err
			}
		}
	}

	if err := src.tick(a, time.Now()); err != nil && srcErr == nil {
		srcErr = err // the eBPF engine's last counters: none lost on stop
	}
	if err := src.Close(); err != nil { // the kernel's final counters
		warn("%v", err)
	}
	a.Advance(time.Now().UnixNano())
	hs := health()
	if srcErr != nil {
		warn("%v; the report covers the packets read until then", srcErr)
	}
	r := a.Report(o.ifaces, srcErr != nil)
	src.summarize(&r.Capture, hs, warn) // kernel drops, the eBPF engine's health
	if m != nil {
		m.observe(r, hs, a.Stats().Open, a.Stats().Evicted)
	}
	var outErr error
	if out != nil {
		outErr = out.finish()
	}
	if err := guard.writeReport(r, color); err != nil { // to standard error if it cannot go where it should
		return err
	}
	if outErr != nil {
		return outErr
	}
	if r.Blocked() {
		return exitError{exitBlocked}
	}
	return nil
}

func writeWatchReport(o *watchOptions, r *classify.Report, stdout io.Writer, color bool) error {
	if o.output == "" {
		return render(stdout, r, o.format, color)
	}
	return writeFileAtomic(o.output, func(w io.Writer) error { return render(w, r, o.format, false) })
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// watchView shows the watch as it goes: the redrawn feature table on a
// terminal, one line (or NDJSON object) per newly failed attempt elsewhere.
type watchView struct {
	w                io.Writer
	tty, json, color bool
	seen             map[string]bool
	ifaces           []string
}

func (v *watchView) update(r *classify.Report, now time.Time) error {
	if v.tty {
		return v.redraw(r)
	}
	stamp := now.UTC().Format(time.RFC3339Nano)
	for i := range r.Lookups {
		lk := &r.Lookups[i]
		key := "dns " + lk.Name
		if !lk.Outcome.Failed() || v.seen[key] {
			continue
		}
		v.seen[key] = true
		if err := v.event(stamp, "lookup", lk, func() string {
			return fmt.Sprintf("%s %s DNS lookup %s [%s] %s", stamp, lk.Outcome, clean(lk.Name), featureShort(lk.Features), lookupDetail(lk))
		}); err != nil {
			return err
		}
	}
	for i := range r.Flows {
		f := &r.Flows[i]
		key := f.Transport + " " + f.Client + " " + f.Server + " " + f.First
		if !f.Outcome.Failed() || f.Possible() || f.Evidence == "" || v.seen[key] {
			continue
		}
		v.seen[key] = true
		if err := v.event(stamp, "flow", f, func() string {
			return fmt.Sprintf("%s %s %s %s -> %s %s [%s] %s", stamp, f.Outcome, f.Transport, f.Client, f.Server,
				hostOrDash(f.Host), featureShort(f.Features), clean(f.Detail))
		}); err != nil {
			return err
		}
	}
	return nil
}

// event prints one failed attempt: an NDJSON object with the record's
// fields, "@timestamp" and "event", or a line of text.
func (v *watchView) event(stamp, kind string, rec any, line func() string) error {
	if !v.json {
		_, err := fmt.Fprintln(v.w, line())
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	head := fmt.Sprintf(`{"@timestamp":%q,"event":%q,`, stamp, kind)
	if len(b) < 2 || b[0] != '{' {
		return fmt.Errorf("event: unexpected JSON %q", b)
	}
	if string(b) == "{}" {
		head = head[:len(head)-1]
	}
	_, err = fmt.Fprintf(v.w, "%s%s\n", head, b[1:])
	return err
}

// redraw clears the terminal and draws the snapshot's features and latest
// failures.
func (v *watchView) redraw(r *classify.Report) error {
	w := v.w
	fmt.Fprint(w, "\x1b[H\x1b[2J")
	fmt.Fprintf(w, "%s (watching %s; Ctrl-C stops and prints the final report)\n%s\n\n",
		paint(v.color, ansiBold, "msnaudit: "+r.Rules), strings.Join(v.ifaces, ", "), captureLine(r))
	t := newTable(w, "Feature", "Attempts", "OK", "Failed", "Possible", "Verdict", "Main evidence")
	for i := range r.Features {
		f := &r.Features[i]
		if err := appendRow(t, f.Feature, featureCounts(f), strconv.Itoa(f.OK), strconv.Itoa(f.Failed), strconv.Itoa(f.Possible),
			paint(v.color, verdictColor(f.Verdict), f.Verdict.String()), hostOrDash(f.Evidence)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	failed := failures(r, "->")
	fmt.Fprintf(w, "\n%d failed %s", len(failed), plural(len(failed), "attempt", "attempts"))
	const last = 8
	if len(failed) > last {
		fmt.Fprintf(w, " (the latest %d)", last)
		failed = failed[len(failed)-last:]
	}
	fmt.Fprintln(w)
	for _, f := range failed {
		fmt.Fprintf(w, "  %s %s %s %s: %s\n", hhmmss(f.time), paint(v.color, ansiRed, f.outcome.String()), f.endpoints, hostOrDash(f.host), clean(f.detail))
	}
	return nil
}

// pcapngFile is the -w output: written to a temporary file in the same
// directory and renamed into place when the watch stops.
type pcapngFile struct {
	path string
	f    *os.File
	w    *capture.PcapngWriter
	err  error
	done bool
}

func createPcapng(path string, ifaces []capture.Interface) (*pcapngFile, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 && os.Geteuid() == 0 {
		return nil, fmt.Errorf("%s: refusing to write through a symbolic link as root", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".msnaudit-*.pcapng.tmp")
	if err != nil {
		return nil, fmt.Errorf("-w %s: %w", path, err)
	}
	w, err := capture.NewPcapngWriter(f, ifaces)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("-w %s: %w", path, err)
	}
	return &pcapngFile{path: path, f: f, w: w}, nil
}

// write adds a packet; the first error (a full disk) is reported once, the
// file given up and the watch goes on.
func (o *pcapngFile) write(p *capture.Packet, warn func(string, ...any)) {
	if o == nil || o.err != nil {
		return
	}
	if err := o.w.WritePacket(p); err != nil {
		o.fail(err)
		warn("%v; no longer writing it (the watch goes on)", o.err)
	}
}

func (o *pcapngFile) fail(err error) {
	o.err = fmt.Errorf("-w %s: %w", o.path, err)
	o.abort()
}

// abort removes the temporary file (once).
func (o *pcapngFile) abort() {
	if o == nil || o.done {
		return
	}
	o.done = true
	o.f.Close()
	os.Remove(o.f.Name())
}

// finish flushes, closes and renames the file, or returns why it could not.
func (o *pcapngFile) finish() error {
	if o.err != nil {
		return o.err
	}
	if err := o.w.Flush(); err != nil {
		o.fail(err)
		return o.err
	}
	if err := o.f.Close(); err != nil {
		o.fail(err)
		return o.err
	}
	if err := os.Rename(o.f.Name(), o.path); err != nil {
		o.fail(err)
		return o.err
	}
	o.done = true
	return nil
}

// socketFilter is the AF_PACKET sockets' filter for rule table rs.
func socketFilter(rs *classify.Rules) func(capture.LinkType) ([]bpf.RawInstruction, error) {
	return func(l capture.LinkType) ([]bpf.RawInstruction, error) { return classify.SocketFilterFor(rs, l) }
}
