package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

const metricsTD = "../../testdata/"

// auditForMetrics audits a capture of testdata. With cut > 0 it also takes a
// snapshot after cut packets, as watch does on its interval.
func auditForMetrics(t testing.TB, name string, cut int) (snap, final *classify.Report) {
	t.Helper()
	src, err := capture.Open(metricsTD + name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := classify.NewAuditor(classify.DefaultConfig())
	var p capture.Packet
	for n := 1; ; n++ {
		if err := src.Next(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("%s: %v", name, err)
			}
			break
		}
		a.Packet(&p)
		if n == cut {
			snap = a.Snapshot([]string{name})
		}
	}
	if cut > 0 && snap == nil {
		t.Fatalf("%s has fewer than %d packets", name, cut)
	}
	return snap, a.Report([]string{name}, false)
}

// seriesKey names one series: name{label="value",...} with sorted labels.
func seriesKey(name string, labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

type seriesValue struct {
	counter bool
	value   float64
	labels  map[string]string
	family  string
}

// gatherMsnaudit returns every msnaudit_ series of the metrics' registry.
func gatherMsnaudit(t testing.TB, m *metrics) map[string]seriesValue {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]seriesValue{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "msnaudit_") {
			continue
		}
		for _, s := range mf.GetMetric() {
			v := seriesValue{family: mf.GetName(), labels: map[string]string{}}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v.counter, v.value = true, s.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v.value = s.GetGauge().GetValue()
			default:
				t.Fatalf("%s: unexpected type %v", mf.GetName(), mf.GetType())
			}
			for _, l := range s.GetLabel() {
				v.labels[l.GetName()] = l.GetValue()
			}
			out[seriesKey(mf.GetName(), s.GetLabel())] = v
		}
	}
	return out
}

func value(t testing.TB, got map[string]seriesValue, key string) float64 {
	t.Helper()
	v, ok := got[key]
	if !ok {
		t.Fatalf("no series %s", key)
	}
	return v.value
}

// checkMonotonic fails if a counter of after is below its value in before,
// or a series of before is gone.
func checkMonotonic(t *testing.T, before, after map[string]seriesValue) {
	t.Helper()
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			t.Errorf("series %s disappeared", k)
		case b.counter && a.value < b.value:
			t.Errorf("counter %s went down: %v -> %v", k, b.value, a.value)
		}
	}
}

var outcomesBlocked = map[string]bool{
	"Voice and video": true, "Whiteboard and application sharing": true, "Windows Live Call": true, "Games": true,
}

func blockedExposition(rs *classify.Rules, blocked map[string]bool) string {
	var b strings.Builder
	b.WriteString("# HELP msnaudit_feature_blocked 1 while the feature's verdict is blocked: attempts, none ok.\n")
	b.WriteString("# TYPE msnaudit_feature_blocked gauge\n")
	for _, f := range rs.Features {
		v := 0
		if blocked[f.Name] {
			v = 1
		}
		fmt.Fprintf(&b, "msnaudit_feature_blocked{feature=%q} %d\n", f.Name, v)
	}
	return b.String()
}

func TestMetricsBeforeObserve(t *testing.T) {
	rs := classify.Default()
	m := newMetrics(rs)
	if err := testutil.CollectAndCompare(m, strings.NewReader(blockedExposition(rs, nil)), "msnaudit_feature_blocked"); err != nil {
		t.Error(err)
	}
	got := gatherMsnaudit(t, m)
	for _, f := range rs.Features {
		if v := value(t, got, fmt.Sprintf("msnaudit_feature_verdict{feature=%q,verdict=\"not_seen\"}", f.Name)); v != 1 {
			t.Errorf("%s: not_seen = %v before any report, want 1", f.Name, v)
		}
		if v := value(t, got, fmt.Sprintf("msnaudit_feature_attempts_total{feature=%q,outcome=\"dropped\"}", f.Name)); v != 0 {
			t.Errorf("%s: dropped attempts = %v before any report", f.Name, v)
		}
	}
	if v := value(t, got, "msnaudit_last_snapshot_timestamp_seconds{}"); v != 0 {
		t.Errorf("snapshot timestamp %v before any observe, want 0", v)
	}
	if v := value(t, got, fmt.Sprintf("msnaudit_build_info{rules=%q,version=%q}", rs.Title, version)); v != 1 {
		t.Errorf("build info %v", v)
	}
}

// A snapshot in the middle of a capture, then the final report, from one
// auditor: counters only go up, gauges follow the latest report. Every cut
// of outcomes.pcapng is tried; some snapshots judge an open flow otherwise
// than the final report does.
func TestMetricsSnapshotThenReport(t *testing.T) {
	rejudgedCuts := 0
	for cut := 1; cut < 99; cut++ {
		if snapshotThenReport(t, cut) > 0 {
			rejudgedCuts++
		}
		if t.Failed() {
			t.Fatalf("cut after %d packets", cut)
		}
	}
	t.Logf("%d of 98 snapshots counted some feature and outcome higher than the final report", rejudgedCuts)
	if rejudgedCuts == 0 {
		t.Error("no snapshot re-judged an open flow: the test does not exercise what it is for")
	}
}

func snapshotThenReport(t *testing.T, cut int) (rejudged int) {
	rs := classify.Default()
	snap, final := auditForMetrics(t, "outcomes.pcapng", cut)
	m := newMetrics(rs)
	m.observe(snap, nil, 7, 0)
	first := gatherMsnaudit(t, m)
	if v := value(t, first, "msnaudit_packets_total{}"); v != float64(cut) {
		t.Errorf("packets after the snapshot = %v, want %d", v, cut)
	}
	if v := value(t, first, "msnaudit_flow_table_flows{}"); v != 7 {
		t.Errorf("flow table gauge = %v, want 7", v)
	}

	m.observe(final, nil, 0, 0)
	second := gatherMsnaudit(t, m)
	checkMonotonic(t, first, second)

	want := blockedExposition(rs, outcomesBlocked) + `
# HELP msnaudit_lookups Messenger names looked up, by the current outcome of their lookups.
# TYPE msnaudit_lookups gauge
msnaudit_lookups{outcome="dns_failed"} 3
msnaudit_lookups{outcome="dns_sinkhole"} 2
msnaudit_lookups{outcome="dropped"} 0
msnaudit_lookups{outcome="http_blocked"} 0
msnaudit_lookups{outcome="icmp_unreachable"} 0
msnaudit_lookups{outcome="incomplete"} 0
msnaudit_lookups{outcome="kernel_drop"} 0
msnaudit_lookups{outcome="ok"} 5
msnaudit_lookups{outcome="proxy_auth"} 0
msnaudit_lookups{outcome="refused"} 0
msnaudit_lookups{outcome="reset"} 0
msnaudit_lookups{outcome="reset_after_hello"} 0
# HELP msnaudit_packets_total Packets the auditor read.
# TYPE msnaudit_packets_total counter
msnaudit_packets_total 99
# HELP msnaudit_bytes_total Bytes of the packets the auditor read.
# TYPE msnaudit_bytes_total counter
msnaudit_bytes_total 9341
# HELP msnaudit_flow_table_flows Flows open in the flow table.
# TYPE msnaudit_flow_table_flows gauge
msnaudit_flow_table_flows 0
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "msnaudit_feature_blocked", "msnaudit_lookups",
		"msnaudit_packets_total", "msnaudit_bytes_total", "msnaudit_flow_table_flows"); err != nil {
		t.Error(err)
	}

	// Each attempts counter is the highest of the two reports' counts; the
	// verdicts are the final report's.
	snapCount := outcomeCounts(snap)
	finalCount := outcomeCounts(final)
	for _, f := range final.Features {
		for _, o := range metricOutcomes {
			k := f.Feature + "/" + o
			wantV := max(snapCount[k], finalCount[k])
			if snapCount[k] > finalCount[k] {
				rejudged++
			}
			if v := value(t, second, fmt.Sprintf("msnaudit_feature_attempts_total{feature=%q,outcome=%q}", f.Feature, o)); v != float64(wantV) {
				t.Errorf("attempts %s = %v, want %d", k, v, wantV)
			}
		}
		for _, v := range metricVerdicts {
			wantV := 0.0
			if f.Verdict == v {
				wantV = 1
			}
			if got := value(t, second, fmt.Sprintf("msnaudit_feature_verdict{feature=%q,verdict=%q}", f.Feature, v)); got != wantV {
				t.Errorf("verdict %s/%s = %v, want %v", f.Feature, v, got, wantV)
			}
		}
	}
	for _, u := range final.URLs {
		if v := value(t, second, fmt.Sprintf("msnaudit_url_failures_total{url=%q}", u.URL)); v < float64(u.Failed) {
			t.Errorf("url %s failures = %v, want at least %d", u.URL, v, u.Failed)
		}
		if v := value(t, second, fmt.Sprintf("msnaudit_url_verdict{url=%q,verdict=%q}", u.URL, u.Verdict)); v != 1 {
			t.Errorf("url %s verdict %s = %v, want 1", u.URL, u.Verdict, v)
		}
	}
	return rejudged
}

func outcomeCounts(r *classify.Report) map[string]int {
	c := map[string]int{}
	for _, f := range r.Features {
		for o, n := range f.Outcomes {
			c[f.Feature+"/"+o] = n
		}
	}
	return c
}

// An open flow judged one way in a snapshot and another way later: the
// counter keeps its highest count, the verdict follows the latest snapshot.
func TestMetricsRejudgedOpenFlow(t *testing.T) {
	rs := classify.Default()
	m := newMetrics(rs)
	feature := rs.Features[0].Name
	report := func(packets uint64, ok, dropped, incomplete int) *classify.Report {
		r := &classify.Report{Capture: classify.CaptureSummary{First: "2026-01-15T10:00:00Z", Packets: packets}}
		outcomes := map[string]int{}
		for o, n := range map[string]int{"ok": ok, "dropped": dropped, "incomplete": incomplete} {
			if n > 0 {
				outcomes[o] = n
			}
		}
		r.Features = []classify.FeatureResult{{Feature: feature, Verdict: verdictFor(ok, dropped), Flows: ok + dropped + incomplete,
			OK: ok, Failed: dropped, Outcomes: outcomes}}
		return r
	}
	key := func(o string) string {
		return fmt.Sprintf("msnaudit_feature_attempts_total{feature=%q,outcome=%q}", feature, o)
	}
	blocked := fmt.Sprintf("msnaudit_feature_blocked{feature=%q}", feature)

	m.observe(report(10, 0, 2, 1), nil, 3, 0) // two SYNs unanswered past the grace time, one fresh
	got := gatherMsnaudit(t, m)
	if value(t, got, key("dropped")) != 2 || value(t, got, key("incomplete")) != 1 || value(t, got, blocked) != 1 {
		t.Fatalf("first snapshot: dropped %v incomplete %v blocked %v", value(t, got, key("dropped")),
			value(t, got, key("incomplete")), value(t, got, blocked))
	}
	m.observe(report(20, 3, 0, 0), nil, 3, 0) // the SYN-ACKs came: all three ok
	got = gatherMsnaudit(t, m)
	if value(t, got, key("dropped")) != 2 || value(t, got, key("incomplete")) != 1 || value(t, got, key("ok")) != 3 {
		t.Errorf("second snapshot: dropped %v (want 2, kept), incomplete %v (want 1, kept), ok %v (want 3)",
			value(t, got, key("dropped")), value(t, got, key("incomplete")), value(t, got, key("ok")))
	}
	if value(t, got, blocked) != 0 || value(t, got, fmt.Sprintf("msnaudit_feature_verdict{feature=%q,verdict=\"ok\"}", feature)) != 1 {
		t.Error("the verdict gauges did not follow the latest snapshot")
	}
	// Finished flows catch the counter up: from then on it is exact again.
	m.observe(report(30, 3, 4, 0), nil, 0, 0)
	got = gatherMsnaudit(t, m)
	if v := value(t, got, key("dropped")); v != 4 {
		t.Errorf("dropped after 4 finished drops = %v, want 4", v)
	}
}

// Two successive runs (a new auditor, as after a restart of the capture):
// the counters add up, the gauges are the new run's. The second report has
// fewer packets than the first, which is how a new auditor shows; the other
// sign, a new first-packet time, is checked below.
func TestMetricsNewRun(t *testing.T) {
	rs := classify.Default()
	_, sample := auditForMetrics(t, "sample.pcapng", 0)
	_, outcomes := auditForMetrics(t, "outcomes.pcapng", 0)
	m := newMetrics(rs)
	m.observe(outcomes, nil, 0, 0)
	first := gatherMsnaudit(t, m)
	m.observe(sample, nil, 0, 0)
	second := gatherMsnaudit(t, m)
	checkMonotonic(t, first, second)

	sampleBlocked := map[string]bool{"Network detection": true, "Whiteboard and application sharing": true}
	want := `
# HELP msnaudit_packets_total Packets the auditor read.
# TYPE msnaudit_packets_total counter
msnaudit_packets_total 162
# HELP msnaudit_bytes_total Bytes of the packets the auditor read.
# TYPE msnaudit_bytes_total counter
msnaudit_bytes_total 15007
` + blockedExposition(rs, sampleBlocked)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "msnaudit_packets_total", "msnaudit_bytes_total", "msnaudit_feature_blocked"); err != nil {
		t.Error(err)
	}
	a, b := outcomeCounts(outcomes), outcomeCounts(sample)
	for _, f := range rs.Features {
		for _, o := range metricOutcomes {
			k := f.Name + "/" + o
			if v := value(t, second, fmt.Sprintf("msnaudit_feature_attempts_total{feature=%q,outcome=%q}", f.Name, o)); v != float64(a[k]+b[k]) {
				t.Errorf("attempts %s = %v, want %d + %d", k, v, a[k], b[k])
			}
		}
	}
	// Gauges are the latest run's: sign-in partial in both, lookups only
	// the sample's (none).
	if v := value(t, second, `msnaudit_feature_verdict{feature="Sign in to the Messenger service",verdict="partial"}`); v != 1 {
		t.Errorf("sign-in partial = %v, want 1", v)
	}
	if v := value(t, second, `msnaudit_lookups{outcome="dns_failed"}`); v != float64(countLookups(sample, classify.DNSFailed)) {
		t.Errorf("dns_failed lookups = %v, want the sample's %d", v, countLookups(sample, classify.DNSFailed))
	}

	// A third run that starts at another time but has already read more
	// packets than the second: told apart by its first packet's time.
	third := *outcomes
	third.Capture.First = "2026-01-16T09:00:00Z"
	m.observe(&third, nil, 0, 0)
	if v := value(t, gatherMsnaudit(t, m), "msnaudit_packets_total{}"); v != 63+99+99 {
		t.Errorf("packets after a third run = %v, want %d", v, 63+99+99)
	}
}

func countLookups(r *classify.Report, o classify.Outcome) int {
	n := 0
	for _, l := range r.Lookups {
		if l.Outcome == o {
			n++
		}
	}
	return n
}

func TestMetricsCaptureHealth(t *testing.T) {
	m := newMetrics(classify.Default())
	m.observe(nil, []liveHealth{{"eth0", 100, 0}, {"eth0", 50, 1}, {"eth1", 10, 0}}, 12, 1) // eth0: two fanout sockets
	got := gatherMsnaudit(t, m)
	for k, want := range map[string]float64{
		`msnaudit_capture_kernel_packets_total{interface="eth0"}`: 150,
		`msnaudit_capture_kernel_drops_total{interface="eth0"}`:   1,
		`msnaudit_capture_kernel_packets_total{interface="eth1"}`: 10,
		`msnaudit_flow_table_flows{}`:                             12,
		`msnaudit_flow_table_evictions_total{}`:                   1,
		`msnaudit_packets_total{}`:                                0,
	} {
		if v := value(t, got, k); v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if v := value(t, got, "msnaudit_last_snapshot_timestamp_seconds{}"); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("snapshot timestamp %v is not now", v)
	}
	// eth0's sockets were reopened (its counters start again), eth1 is not
	// reported this time: eth0 counts on, eth1 keeps its value.
	m.observe(nil, []liveHealth{{"eth0", 30, 2}}, 5, 4)
	got = gatherMsnaudit(t, m)
	for k, want := range map[string]float64{
		`msnaudit_capture_kernel_packets_total{interface="eth0"}`: 180,
		`msnaudit_capture_kernel_drops_total{interface="eth0"}`:   3,
		`msnaudit_capture_kernel_packets_total{interface="eth1"}`: 10,
		`msnaudit_flow_table_flows{}`:                             5,
		`msnaudit_flow_table_evictions_total{}`:                   4,
	} {
		if v := value(t, got, k); v != want {
			t.Errorf("after reopening: %s = %v, want %v", k, v, want)
		}
	}
}

// The series set is fixed by the rule table: whatever traffic or report
// comes, no new feature, URL or outcome series appears, and no label value
// comes from a packet.
func TestMetricsCardinalityBounded(t *testing.T) {
	rs := classify.Default()
	m := newMetrics(rs)
	before := gatherMsnaudit(t, m)

	names, err := filepath.Glob(metricsTD + "*.pcap*")
	if err != nil || len(names) < 10 {
		t.Fatalf("testdata captures: %v %v", names, err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".json") {
			continue
		}
		snap, final := auditForMetrics(t, filepath.Base(name), 1)
		m.observe(snap, nil, 1, 0)
		m.observe(final, nil, 0, 0)
	}
	// A report whose rows the rule table does not know (another table, or a
	// corrupted report) adds nothing either.
	hostile := &classify.Report{
		Features: []classify.FeatureResult{{Feature: "198.51.100.7", Verdict: classify.Blocked, Failed: 1,
			Outcomes: map[string]int{"dropped": 1, "evil.example.com": 5}}},
		URLs:    []classify.URLResult{{URL: "http://evil.example.com", Verdict: classify.Blocked, Failed: 1}},
		Lookups: []classify.LookupRecord{{Name: "evil.example.com", Outcome: classify.DNSFailed}},
	}
	m.observe(hostile, []liveHealth{{"eth0", 1, 0}}, 0, 0)
	after := gatherMsnaudit(t, m)

	features := map[string]bool{}
	for _, f := range rs.Features {
		features[f.Name] = true
	}
	urls := map[string]bool{}
	for _, u := range rs.URLs {
		urls[u.URL] = true
	}
	outcomes := map[string]bool{}
	for _, o := range metricOutcomes {
		outcomes[o] = true
	}
	verdicts := map[string]bool{"ok": true, "partial": true, "blocked": true, "not_seen": true}
	allowed := map[string]map[string]bool{"feature": features, "url": urls, "outcome": outcomes, "verdict": verdicts,
		"interface": {"eth0": true}, "version": {version: true}, "rules": {rs.Title: true}}

	perFamily := map[string]int{}
	for k, s := range after {
		perFamily[s.family]++
		for l, v := range s.labels {
			if !allowed[l][v] {
				t.Errorf("%s: label %s=%q is not from the rule table or a fixed vocabulary", k, l, v)
			}
		}
	}
	nf, nu, no, nv := len(rs.Features), len(urls), len(metricOutcomes), len(metricVerdicts)
	want := map[string]int{
		"msnaudit_feature_attempts_total":       nf * no,
		"msnaudit_feature_possible_flows_total": nf,
		"msnaudit_feature_verdict":              nf * nv,
		"msnaudit_feature_blocked":              nf,
		"msnaudit_url_attempts_total":           nu,
		"msnaudit_url_failures_total":           nu,
		"msnaudit_url_verdict":                  nu * nv,
		"msnaudit_lookups":                      no,
		"msnaudit_capture_kernel_packets_total": 1,
		"msnaudit_capture_kernel_drops_total":   1,
	}
	for family, n := range want {
		if perFamily[family] != n {
			t.Errorf("%s: %d series, want %d", family, perFamily[family], n)
		}
	}
	total := 0
	for _, n := range perFamily {
		total += n
	}
	if total != len(before)+2 { // the two interface series are the only new ones
		t.Errorf("%d series after every capture, %d before: only the interface's 2 may be added", total, len(before))
	}
	t.Logf("%d msnaudit series for %d features, %d URL rows, %d outcomes, one interface", total, nf, nu, no)

	// However many interfaces the capture layer names, the label is bounded.
	var many []liveHealth
	for i := range 3 * metricMaxInterfaces {
		many = append(many, liveHealth{Interface: fmt.Sprintf("veth%d", i), KernelPackets: 1})
	}
	m.observe(nil, many, 0, 0)
	n := testutil.CollectAndCount(m, "msnaudit_capture_kernel_packets_total")
	if n != metricMaxInterfaces+1 {
		t.Errorf("%d interface series, want %d (the cap and \"other\")", n, metricMaxInterfaces+1)
	}
	got := gatherMsnaudit(t, m)
	if v := value(t, got, `msnaudit_capture_kernel_packets_total{interface="other"}`); v != float64(3*metricMaxInterfaces-(metricMaxInterfaces-1)) {
		t.Errorf("other = %v", v)
	}
}

// A rule table with two rows of one URL (a hand-written revival table) gives
// one series per URL, with the rows' counts summed.
func TestMetricsDuplicateURLRows(t *testing.T) {
	text := string(classify.Default().Text) + "\nurl url=https://login.live.com features=signin source=practice function=\"again\"\n"
	rs, err := classify.ParseRules("dup.rules", strings.NewReader(text))
	if err != nil {
		t.Skipf("the rule parser refuses a repeated URL row: %v", err)
	}
	m := newMetrics(rs)
	r := &classify.Report{URLs: []classify.URLResult{{URL: "https://login.live.com", OK: 1}, {URL: "https://login.live.com", Failed: 2}}}
	m.observe(r, nil, 0, 0)
	got := gatherMsnaudit(t, m)
	if n := testutil.CollectAndCount(m, "msnaudit_url_attempts_total"); n != len(rs.URLs)-1 {
		t.Errorf("%d URL series for %d rows with one repeated", n, len(rs.URLs))
	}
	if v := value(t, got, `msnaudit_url_attempts_total{url="https://login.live.com"}`); v != 3 {
		t.Errorf("attempts = %v, want 3", v)
	}
	if v := value(t, got, `msnaudit_url_verdict{url="https://login.live.com",verdict="partial"}`); v != 1 {
		t.Errorf("partial = %v, want 1", v)
	}
}

func TestMetricsLint(t *testing.T) {
	m := newMetrics(classify.Default())
	_, final := auditForMetrics(t, "outcomes.pcapng", 0)
	m.observe(final, []liveHealth{{"eth0", 1, 0}}, 1, 0)
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "msnaudit_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// Scrapes while observe runs: every scrape is a consistent set (exactly one
// verdict per feature).
func TestMetricsConcurrentScrape(t *testing.T) {
	rs := classify.Default()
	m := newMetrics(rs)
	_, sample := auditForMetrics(t, "sample.pcapng", 0)
	_, outcomes := auditForMetrics(t, "outcomes.pcapng", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if i%2 == 0 {
				m.observe(sample, nil, i, 0)
			} else {
				m.observe(outcomes, nil, i, 0)
			}
		}
	}()
	for scrapes := 0; ; scrapes++ {
		got := gatherMsnaudit(t, m)
		ones := map[string]float64{}
		for _, s := range got {
			if s.family == "msnaudit_feature_verdict" {
				ones[s.labels["feature"]] += s.value
			}
		}
		for f, n := range ones {
			if n != 1 {
				t.Fatalf("scrape %d: %s has %v verdicts at 1", scrapes, f, n)
			}
		}
		select {
		case <-done:
			return
		default:
		}
	}
}

var metricNameRE = regexp.MustCompile(`\bmsnaudit_[a-z_]+[a-z]\b`)

// The alerts and the dashboard use only series that msnaudit exports.
func TestMetricsDocsUseExportedSeries(t *testing.T) {
	m := newMetrics(classify.Default())
	m.observe(nil, []liveHealth{{"eth0", 1, 0}}, 0, 0)
	families := map[string]bool{}
	for _, s := range gatherMsnaudit(t, m) {
		families[s.family] = true
	}
	used := map[string]bool{}
	for _, name := range []string{"alerts.yml", "grafana-dashboard.json", "README.md"} {
		b, err := os.ReadFile(filepath.Join("../../docs/prometheus", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricNameRE.FindAllString(string(b), -1) {
			used[n] = true
			if !families[n] {
				t.Errorf("%s uses %s, which msnaudit does not export", name, n)
			}
		}
	}
	for _, want := range []string{"msnaudit_feature_blocked", "msnaudit_feature_verdict", "msnaudit_feature_attempts_total",
		"msnaudit_capture_kernel_drops_total", "msnaudit_flow_table_flows", "msnaudit_flow_table_evictions_total"} {
		if !used[want] {
			t.Errorf("the docs never use %s", want)
		}
	}
	t.Logf("series used by the docs: %v", slices.Sorted(maps.Keys(used)))
}

func TestGrafanaDashboardIsValid(t *testing.T) {
	b, err := os.ReadFile("../../docs/prometheus/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q uid %q schemaVersion %d", d.Title, d.UID, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["instance"] {
		t.Errorf("variables %v: want datasource and instance", vars)
	}
	ids := map[int]bool{}
	types := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		types[p.Type] = true
		if p.Type == "row" || p.Type == "text" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d queries", p.Title, p.Datasource, len(p.Targets))
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: grid position %+v", p.Title, p.GridPos)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q ignores the instance variable", p.Title, q.Expr)
			}
		}
	}
	for _, typ := range []string{"state-timeline", "table", "timeseries"} {
		if !types[typ] {
			t.Errorf("no %s panel", typ)
		}
	}
}

func TestMetricsListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		":9464":          "127.0.0.1:9464",
		"9464":           "127.0.0.1:9464",
		"0.0.0.0:9464":   "0.0.0.0:9464",
		"[::]:9464":      "[::]:9464",
		"[::1]:9464":     "[::1]:9464",
		"10.0.0.1:9464":  "10.0.0.1:9464",
		"localhost:9464": "localhost:9464",
	} {
		got, err := metricsListenAddr(in)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "eth0", "99999", ":http", "1.2.3.4", "[::1]", "host:"} {
		if got, err := metricsListenAddr(in); err == nil {
			t.Errorf("%q: accepted as %q", in, got)
		}
	}
}

func TestServeMetrics(t *testing.T) {
	rs := classify.Default()
	m := newMetrics(rs)
	_, final := auditForMetrics(t, "outcomes.pcapng", 0)
	m.observe(final, []liveHealth{{"eth0", 99, 0}}, 0, 0)

	for _, addr := range []string{":0", "0"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			bound, errc, err := serveMetrics(ctx, addr, m)
			if err != nil {
				t.Fatal(err)
			}
			tcp := bound.(*net.TCPAddr)
			if !tcp.IP.Equal(net.IPv4(127, 0, 0, 1)) || tcp.Port == 0 {
				t.Fatalf("bound %v, want 127.0.0.1 and a port", bound)
			}
			base := "http://" + bound.String()
			client := &http.Client{Timeout: 5 * time.Second}
			get := func(path string) (int, string) {
				resp, err := client.Get(base + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			code, body := get("/metrics")
			if code != 200 || !strings.Contains(body, `msnaudit_feature_blocked{feature="Games"} 1`) ||
				!strings.Contains(body, `msnaudit_capture_kernel_packets_total{interface="eth0"} 99`) ||
				!strings.Contains(body, "go_goroutines") || !strings.Contains(body, "promhttp_metric_handler_requests_total") {
				t.Errorf("/metrics: %d\n%.2000s", code, body)
			}
			if code, body := get("/healthz"); code != 200 || body != "ok\n" {
				t.Errorf("/healthz: %d %q", code, body)
			}
			for _, path := range []string{"/", "/metrics/", "/metricsx", "/debug/pprof/", "/healthz/x", "/favicon.ico"} {
				if code, _ := get(path); code != http.StatusNotFound {
					t.Errorf("%s: %d, want 404", path, code)
				}
			}
			resp, err := client.Post(base+"/metrics", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST /metrics: %d, want 405", resp.StatusCode)
			}

			start := time.Now()
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("after cancel: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not stop within 5s of the context's end")
			}
			if _, ok := <-errc; ok {
				t.Error("the error channel is not closed after its value")
			}
			t.Logf("stopped in %v", time.Since(start))
			if conn, err := net.DialTimeout("tcp", bound.String(), time.Second); err == nil {
				conn.Close()
				t.Error("still accepting connections after the context's end")
			}
		})
	}

	// The global registry is untouched.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "msnaudit_") {
			t.Errorf("%s is in the global registry", mf.GetName())
		}
	}
}

func TestServeMetricsErrors(t *testing.T) {
	m := newMetrics(classify.Default())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := serveMetrics(ctx, "not-an-address", m); err == nil {
		t.Error("a bad address was accepted")
	}
	bound, errc, err := serveMetrics(ctx, "127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := serveMetrics(ctx, bound.String(), m); err == nil {
		t.Errorf("a second server on the busy %v started", bound)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

// A hand-written rule table or an interface name that is not UTF-8 still
// gives valid series (no panic, no gather error), one per label value.
func TestMetricsInvalidUTF8Labels(t *testing.T) {
	rs := &classify.Rules{Title: "revival \xff",
		Features: []classify.Feature{{ID: "a", Name: "Sign in \xff"}, {ID: "b", Name: "Sign in \xfe"}, {ID: "c", Name: "Games"}},
		URLs:     []classify.URLRow{{URL: "http://\xffx.example"}}}
	m := newMetrics(rs)
	m.observe(&classify.Report{
		Features: []classify.FeatureResult{
			{Feature: "Sign in \xff", OK: 1, Outcomes: map[string]int{"ok": 1}},
			{Feature: "Sign in \xfe", Failed: 1, Outcomes: map[string]int{"dropped": 1}},
		},
		URLs: []classify.URLResult{{URL: "http://\xffx.example", Failed: 1}},
	}, []liveHealth{{"eth\xff", 5, 0}}, 0, 0)
	got := gatherMsnaudit(t, m)
	if n := testutil.CollectAndCount(m, "msnaudit_feature_blocked"); n != 2 {
		t.Errorf("%d feature series, want 2 (the two invalid names share one label value)", n)
	}
	if v := value(t, got, "msnaudit_feature_verdict{feature=\"Sign in \uFFFD\",verdict=\"partial\"}"); v != 1 {
		t.Errorf("partial = %v, want 1 (ok and dropped summed)", v)
	}
	if v := value(t, got, "msnaudit_capture_kernel_packets_total{interface=\"eth\uFFFD\"}"); v != 5 {
		t.Errorf("interface packets = %v", v)
	}
}
