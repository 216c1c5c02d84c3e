package main

// Prometheus metrics for `msnaudit watch --metrics ADDR`.
//
// # Counters fed by snapshots
//
// The watch command hands observe a snapshot report (classify.Auditor.Snapshot)
// on every interval. A snapshot counts the flows already finished, whose
// judgement never changes, plus the flows still open, judged as if the capture
// ended now, which a later snapshot may judge differently: a SYN past the grace
// time is "dropped" until its SYN-ACK turns it "ok"; "incomplete" becomes
// anything. So a snapshot's count for one feature and outcome can go down, and
// a Prometheus counter must not (rate and increase read any decrease as a
// restart and would count the whole value again).
//
// The attempts are events, though, and a fleet wants rate() and increase() over
// them, summed across gateways and across restarts: so they are counters, each
// fed with the highest snapshot value seen so far for its series. Such a
// counter is never below the count of finished flows (the truth that only
// grows), equals the snapshot whenever the snapshot is at its highest, and is
// ahead of it by at most the open flows that one earlier snapshot judged that
// way (bounded by the flow table's size); finished flows catch it up. What is
// true now, and may go back, is a gauge named without _total: the verdicts,
// the lookups by outcome, the flow table's size.
//
// A new auditor (the report's first packet time changes, or its packet count
// goes down) starts a new run: every counter keeps what it had and counts the
// new run on top. The kernel's counters are counters at their source: one that
// goes down (a socket reopened) is taken as that source restarting.
//
// # Labels
//
// Label values come from the rule table (feature names, URL strings), the
// fixed outcome and verdict vocabularies, and the interfaces the capture layer
// names: never from packets. Every feature, URL and outcome series exists from
// the start at zero; a report's feature, URL or outcome that the rule table
// does not know is ignored, so the series set cannot grow with traffic.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/msnaudit/msnaudit/classify"
)

// liveHealth is what the capture layer reports, per interface.
type liveHealth struct {
	Interface string
	// KernelPackets are the packets the kernel handed to the socket
	// (tpacket_stats tp_packets, which counts the dropped ones too), since
	// the capture started, summed over the interface's fanout sockets.
	KernelPackets uint64
	// KernelDrops are the packets the kernel dropped for lack of room in the
	// ring (tp_drops), since the capture started.
	KernelDrops uint64
}

// metricOutcomes is the outcome vocabulary, in the report's order.
var metricOutcomes = func() []string {
	var names []string
	for o := classify.OK; o <= classify.Incomplete; o++ {
		names = append(names, o.String())
	}
	return names
}()

// metricVerdicts is the verdict vocabulary.
var metricVerdicts = []classify.Verdict{classify.NotSeen, classify.VerdictOK, classify.Partial, classify.Blocked}

// metricMaxInterfaces bounds the interface label: more interfaces than any
// gateway has; further ones are summed into interface="other".
const metricMaxInterfaces = 64

// monoCounter turns observations into a counter that never goes down: the
// highest value seen in the current run, on top of what earlier runs reached.
type monoCounter struct{ base, peak float64 }

// feed takes a snapshot value, which may be lower than an earlier one.
func (c *monoCounter) feed(v float64) { c.peak = max(c.peak, v) }

// feedCounter takes a value from a source that is itself a counter: a lower
// value means the source restarted.
func (c *monoCounter) feedCounter(v float64) {
	if v < c.peak {
		c.restart()
	}
	c.feed(v)
}

func (c *monoCounter) restart()       { c.base, c.peak = c.base+c.peak, 0 }
func (c *monoCounter) value() float64 { return c.base + c.peak }

type ifaceCounters struct{ packets, drops monoCounter }

// metrics holds the series that observe updates and /metrics exposes.
// observe builds a complete, immutable set of samples and swaps it in, so a
// scrape never sees half of an update (say, two verdicts at 1).
type metrics struct {
	reg      *prometheus.Registry
	features []string       // distinct feature names (label values), in rule order
	urls     []string       // distinct URL strings (label values), in rule order
	featIdx  map[string]int // a rule table's name -> its slot in features
	urlIdx   map[string]int // a rule table's URL -> its slot in urls
	build    prometheus.Metric

	// observe's own state: one goroutine only (and newMetrics before it).
	runFirst     string
	runPackets   uint64
	attempts     [][]monoCounter // [feature][outcome]
	possible     []monoCounter
	urlTries     []monoCounter
	urlFails     []monoCounter
	packets      monoCounter
	bytes        monoCounter
	malformed    monoCounter
	flows        monoCounter
	evictions    monoCounter
	ifaces       map[string]*ifaceCounters
	featVerdicts []classify.Verdict
	urlVerdicts  []classify.Verdict
	lookups      []float64 // per outcome
	table        float64
	snapshotAt   time.Time

	mu      sync.Mutex
	samples []prometheus.Metric
}

var (
	descAttempts = prometheus.NewDesc("msnaudit_feature_attempts_total",
		"Attempts (flows and failed lookups) tied to a Messenger feature, by outcome; incomplete is not judged yet. Fed with the highest snapshot count seen, so it never goes down.",
		[]string{"feature", "outcome"}, nil)
	descPossible = prometheus.NewDesc("msnaudit_feature_possible_flows_total",
		"Flows that only one of the article's wide port ranges ties to a feature; they never decide a verdict.",
		[]string{"feature"}, nil)
	descVerdict = prometheus.NewDesc("msnaudit_feature_verdict",
		"1 for the feature's current verdict (ok, partial, blocked, not_seen) since the watch started, 0 for the others.",
		[]string{"feature", "verdict"}, nil)
	descBlocked = prometheus.NewDesc("msnaudit_feature_blocked",
		"1 while the feature's verdict is blocked: attempts, none ok.",
		[]string{"feature"}, nil)
	descURLAttempts = prometheus.NewDesc("msnaudit_url_attempts_total",
		"Judged attempts (ok or failed) on a row of the article's URL table.",
		[]string{"url"}, nil)
	descURLFailures = prometheus.NewDesc("msnaudit_url_failures_total",
		"Failed attempts (flows and failed lookups) on a row of the article's URL table.",
		[]string{"url"}, nil)
	descURLVerdict = prometheus.NewDesc("msnaudit_url_verdict",
		"1 for the URL row's current verdict, 0 for the others.",
		[]string{"url", "verdict"}, nil)
	descPackets   = prometheus.NewDesc("msnaudit_packets_total", "Packets the auditor read.", nil, nil)
	descBytes     = prometheus.NewDesc("msnaudit_bytes_total", "Bytes of the packets the auditor read.", nil, nil)
	descMalformed = prometheus.NewDesc("msnaudit_malformed_packets_total", "Packets whose headers could not be decoded.", nil, nil)
	descFlows     = prometheus.NewDesc("msnaudit_flows_total", "Flows of every kind, Messenger or not.", nil, nil)
	descKPackets  = prometheus.NewDesc("msnaudit_capture_kernel_packets_total",
		"Packets the kernel handed to the capture socket (tpacket_stats; includes the dropped ones).",
		[]string{"interface"}, nil)
	descKDrops = prometheus.NewDesc("msnaudit_capture_kernel_drops_total",
		"Packets the kernel dropped for lack of room in the capture ring: verdicts may miss them.",
		[]string{"interface"}, nil)
	descTable     = prometheus.NewDesc("msnaudit_flow_table_flows", "Flows open in the flow table.", nil, nil)
	descEvictions = prometheus.NewDesc("msnaudit_flow_table_evictions_total",
		"Flows finished early because the flow table was full (raise --max-flows).", nil, nil)
	descLookups = prometheus.NewDesc("msnaudit_lookups",
		"Messenger names looked up, by the current outcome of their lookups.",
		[]string{"outcome"}, nil)
	descSnapshot = prometheus.NewDesc("msnaudit_last_snapshot_timestamp_seconds",
		"When observe last took a snapshot (Unix time); 0 before the first.", nil, nil)
	descBuild = prometheus.NewDesc("msnaudit_build_info",
		"Always 1: the msnaudit version and the rule table's title.", []string{"version", "rules"}, nil)
)

var metricDescs = []*prometheus.Desc{descAttempts, descPossible, descVerdict, descBlocked, descURLAttempts,
	descURLFailures, descURLVerdict, descPackets, descBytes, descMalformed, descFlows, descKPackets, descKDrops,
	descTable, descEvictions, descLookups, descSnapshot, descBuild}

// newMetrics returns the metrics for a rule table, every series at zero, in a
// registry of their own (with the Go runtime's and the process's).
func newMetrics(rs *classify.Rules) *metrics {
	if rs == nil {
		rs = classify.Default()
	}
	m := &metrics{featIdx: map[string]int{}, urlIdx: map[string]int{}, ifaces: map[string]*ifaceCounters{}}
	for _, f := range rs.Features {
		m.features = labelSlot(m.featIdx, m.features, f.Name)
	}
	for _, u := range rs.URLs {
		m.urls = labelSlot(m.urlIdx, m.urls, u.URL)
	}
	m.attempts = make([][]monoCounter, len(m.features))
	for i := range m.attempts {
		m.attempts[i] = make([]monoCounter, len(metricOutcomes))
	}
	m.possible = make([]monoCounter, len(m.features))
	m.urlTries = make([]monoCounter, len(m.urls))
	m.urlFails = make([]monoCounter, len(m.urls))

	m.featVerdicts = make([]classify.Verdict, len(m.features))
	m.urlVerdicts = make([]classify.Verdict, len(m.urls))
	m.lookups = make([]float64, len(metricOutcomes))
	m.build = prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, labelValue(version), labelValue(rs.Title))
	m.samples = m.render()

	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// labelValue makes a string a valid label value (UTF-8), which a
// hand-written rule table need not be.
func labelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// labelSlot gives name (a rule table's feature name or URL) its series slot:
// rows whose label values are equal share one, and their counts are summed.
func labelSlot(idx map[string]int, labels []string, name string) []string {
	if _, known := idx[name]; known {
		return labels
	}
	v := labelValue(name)
	if i := slices.Index(labels, v); i >= 0 {
		idx[name] = i
		return labels
	}
	idx[name] = len(labels)
	return append(labels, v)
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	samples := m.samples
	m.mu.Unlock()
	for _, s := range samples {
		ch <- s
	}
}

// observe updates every series from a snapshot report and the capture's
// health. Called every --interval from one goroutine. r may be nil (nothing
// audited yet): then only the capture's series change. health holds each
// interface's cumulative kernel counters; entries for one interface (fanout
// sockets) are summed; an interface missing from a call keeps its series.
func (m *metrics) observe(r *classify.Report, health []liveHealth, flowTableSize int, evictions uint64) {
	if r != nil {
		m.feedReport(r)
	}
	m.evictions.feedCounter(float64(evictions))
	m.table = float64(max(flowTableSize, 0))
	m.feedHealth(health)
	m.snapshotAt = time.Now()

	samples := m.render()
	m.mu.Lock()
	m.samples = samples
	m.mu.Unlock()
}

// feedReport feeds the report's counters and sets its gauges. Features, URLs
// and outcomes the rule table does not know are ignored.
func (m *metrics) feedReport(r *classify.Report) {
	c := &r.Capture
	if (m.runFirst != "" && c.First != "" && c.First != m.runFirst) || c.Packets < m.runPackets {
		m.newRun()
	}
	if c.First != "" {
		m.runFirst = c.First
	}
	m.runPackets = c.Packets
	m.packets.feed(float64(c.Packets))
	m.bytes.feed(float64(c.Bytes))
	m.malformed.feed(float64(c.Malformed))
	m.flows.feed(float64(c.FlowsTotal))

	attempts := make([][]float64, len(m.features))
	for i := range attempts {
		attempts[i] = make([]float64, len(metricOutcomes))
	}
	possible := make([]float64, len(m.features))
	featOK := make([]int, len(m.features))
	featFailed := make([]int, len(m.features))
	for _, f := range r.Features {
		i, known := m.featIdx[f.Feature]
		if !known {
			continue
		}
		for name, n := range f.Outcomes {
			if j := outcomeIndex(name); j >= 0 {
				attempts[i][j] += float64(n)
			}
		}
		possible[i] += float64(f.Possible)
		featOK[i] += f.OK
		featFailed[i] += f.Failed
	}
	for i := range m.features {
		for j, v := range attempts[i] {
			m.attempts[i][j].feed(v)
		}
		m.possible[i].feed(possible[i])
		m.featVerdicts[i] = verdictFor(featOK[i], featFailed[i])
	}

	urlOK := make([]int, len(m.urls))
	urlFailed := make([]int, len(m.urls))
	for _, u := range r.URLs {
		if i, known := m.urlIdx[u.URL]; known {
			urlOK[i] += u.OK
			urlFailed[i] += u.Failed
		}
	}
	for i := range m.urls {
		m.urlTries[i].feed(float64(urlOK[i] + urlFailed[i]))
		m.urlFails[i].feed(float64(urlFailed[i]))
		m.urlVerdicts[i] = verdictFor(urlOK[i], urlFailed[i])
	}

	clear(m.lookups)
	for _, l := range r.Lookups {
		if j := outcomeIndex(l.Outcome.String()); j >= 0 {
			m.lookups[j]++
		}
	}
}

// newRun keeps every report-fed counter's value as the base of a new
// auditor's run.
func (m *metrics) newRun() {
	for i := range m.attempts {
		for j := range m.attempts[i] {
			m.attempts[i][j].restart()
		}
		m.possible[i].restart()
	}
	for i := range m.urlTries {
		m.urlTries[i].restart()
		m.urlFails[i].restart()
	}
	for _, c := range []*monoCounter{&m.packets, &m.bytes, &m.malformed, &m.flows} {
		c.restart()
	}
	m.runFirst, m.runPackets = "", 0
}

// feedHealth feeds the kernel's counters per interface.
func (m *metrics) feedHealth(health []liveHealth) {
	sums := map[string]liveHealth{}
	var order []string
	for _, h := range health {
		name := labelValue(h.Interface)
		if name == "" {
			name = "unknown"
		}
		if _, known := m.ifaces[name]; !known {
			if _, pending := sums[name]; !pending && len(m.ifaces)+len(order) >= metricMaxInterfaces {
				name = "other"
			}
		}
		s, pending := sums[name]
		if !pending {
			order = append(order, name)
		}
		s.KernelPackets += h.KernelPackets
		s.KernelDrops += h.KernelDrops
		sums[name] = s
	}
	for _, name := range order {
		ic := m.ifaces[name]
		if ic == nil {
			ic = &ifaceCounters{}
			m.ifaces[name] = ic
		}
		h := sums[name]
		if float64(h.KernelPackets) < ic.packets.peak || float64(h.KernelDrops) < ic.drops.peak {
			// The interface's sockets were reopened: both counters start again.
			ic.packets.restart()
			ic.drops.restart()
		}
		ic.packets.feed(float64(h.KernelPackets))
		ic.drops.feed(float64(h.KernelDrops))
	}
}

// verdictFor is the report's verdict rule, applied again because a
// hand-written rule table may have two rows with one name, whose counts are
// summed.
func verdictFor(ok, failed int) classify.Verdict {
	switch {
	case ok == 0 && failed == 0:
		return classify.NotSeen
	case failed == 0:
		return classify.VerdictOK
	case ok == 0:
		return classify.Blocked
	}
	return classify.Partial
}

func outcomeIndex(name string) int {
	for i, n := range metricOutcomes {
		if n == name {
			return i
		}
	}
	return -1
}

// render makes the full set of samples from observe's state.
func (m *metrics) render() []prometheus.Metric {
	n := len(m.features)*(len(metricOutcomes)+len(metricVerdicts)+2) + len(m.urls)*(2+len(metricVerdicts)) +
		2*len(m.ifaces) + len(metricOutcomes) + 8
	s := make([]prometheus.Metric, 0, n)
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		s = append(s, prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		s = append(s, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for i, name := range m.features {
		for j, o := range metricOutcomes {
			counter(descAttempts, m.attempts[i][j].value(), name, o)
		}
		counter(descPossible, m.possible[i].value(), name)
		for _, v := range metricVerdicts {
			gauge(descVerdict, bit(m.featVerdicts[i] == v), name, v.String())
		}
		gauge(descBlocked, bit(m.featVerdicts[i] == classify.Blocked), name)
	}
	for i, u := range m.urls {
		counter(descURLAttempts, m.urlTries[i].value(), u)
		counter(descURLFailures, m.urlFails[i].value(), u)
		for _, v := range metricVerdicts {
			gauge(descURLVerdict, bit(m.urlVerdicts[i] == v), u, v.String())
		}
	}
	counter(descPackets, m.packets.value())
	counter(descBytes, m.bytes.value())
	counter(descMalformed, m.malformed.value())
	counter(descFlows, m.flows.value())
	names := make([]string, 0, len(m.ifaces))
	for name := range m.ifaces {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		counter(descKPackets, m.ifaces[name].packets.value(), name)
		counter(descKDrops, m.ifaces[name].drops.value(), name)
	}
	gauge(descTable, m.table)
	counter(descEvictions, m.evictions.value())
	for j, o := range metricOutcomes {
		gauge(descLookups, m.lookups[j], o)
	}
	var at float64
	if !m.snapshotAt.IsZero() {
		at = float64(m.snapshotAt.UnixNano()) / 1e9
	}
	gauge(descSnapshot, at)
	return append(s, m.build)
}

// Timeouts of the metrics server: a scrape is small; a slow or idle client
// must not hold a connection.
const (
	metricsReadHeaderTimeout = 5 * time.Second
	metricsReadTimeout       = 10 * time.Second
	metricsWriteTimeout      = 15 * time.Second
	metricsIdleTimeout       = 60 * time.Second
	metricsScrapeTimeout     = 10 * time.Second
	metricsShutdownTimeout   = 2 * time.Second
)

// metricsListenAddr says where --metrics ADDR listens: a bare port or
// ":port" binds 127.0.0.1 only; a host (0.0.0.0, [::], an address or a
// name) is taken as given.
func metricsListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.ParseUint(addr, 10, 16); perr != nil {
			return "", fmt.Errorf("--metrics %q: want PORT, :PORT or HOST:PORT", addr)
		}
		host, port = "", addr
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("--metrics %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// serveMetrics listens on addr (":9464" or "9464" binds 127.0.0.1 only;
// "0.0.0.0:9464"/"[::]:9464" as given), serves /metrics (promhttp with its
// own registry, not the global one) and /healthz, with read/write/idle
// timeouts, and shuts down when ctx ends. It returns once listening (so the
// caller can print the bound address) with the listener's address. The
// channel yields one value when the server has stopped, nil after a shutdown
// on ctx's end or the error that stopped it, and is then closed.
func serveMetrics(ctx context.Context, addr string, m *metrics) (net.Addr, <-chan error, error) {
	laddr, err := metricsListenAddr(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", laddr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{
		Handler:           metricsHandler(m),
		ReadHeaderTimeout: metricsReadHeaderTimeout,
		ReadTimeout:       metricsReadTimeout,
		WriteTimeout:      metricsWriteTimeout,
		IdleTimeout:       metricsIdleTimeout,
		MaxHeaderBytes:    16 << 10,
		// The terminal view owns stderr: the server does not log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	done := make(chan error, 1)
	go func() {
		var err error
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
			if srv.Shutdown(sctx) != nil {
				srv.Close() // a scrape still running past the timeout is cut
			}
			cancel()
			if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
				err = serr
			}
		case err = <-served:
			srv.Close()
		}
		if err != nil {
			err = fmt.Errorf("metrics: %w", err)
		}
		done <- err
		close(done)
	}()
	return ln.Addr(), done, nil
}

// metricsHandler serves /metrics and /healthz, and 404 for everything else.
func metricsHandler(m *metrics) http.Handler {
	mux := http.NewServeMux()
	prom := promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             metricsScrapeTimeout,
	}))
	mux.Handle("GET /metrics", prom)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	return mux
}
