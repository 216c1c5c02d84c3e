package main

// Tests of docs/prometheus/alerts.yml with Debian's prometheus package:
// promtool's own rule checker and unit tests, and a real Prometheus server
// scraping serveMetrics.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msnaudit/msnaudit/classify"
)

const alertsFile = "../../docs/prometheus/alerts.yml"

// prometheusTool finds a program of Debian's prometheus package: skipped
// without it, except in CI, which installs it.
func prometheusTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found, and CI=true: .ci/run installs Debian's prometheus package", name)
	}
	t.Skipf("%s not found: apt-get install prometheus (Debian's package ships prometheus and promtool) to run this test", name)
	return ""
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := prometheusTool(t, "promtool")
	out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS: 5 rules found") {
		t.Errorf("promtool check rules:\n%s", out)
	}
}

// promtool's unit tests of the alerts: when each one fires, with what labels
// and text, at the durations shipped.
func TestPromtoolAlertRules(t *testing.T) {
	promtool := prometheusTool(t, "promtool")
	abs, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	const gw = `job="msnaudit",instance="gw1:9464"`
	const signin = "Sign in to the Messenger service"
	tests := fmt.Sprintf(`
rule_files: [%q]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'msnaudit_feature_blocked{%[2]s,feature="File transfer"}'
        values: '0 0 1x30'
      - series: 'msnaudit_feature_blocked{%[2]s,feature="Games"}'
        values: '1 1 1 0x30'
      - series: 'msnaudit_feature_verdict{%[2]s,feature="%[3]s",verdict="partial"}'
        values: '1x40'
      - series: 'msnaudit_feature_attempts_total{%[2]s,feature="%[3]s",outcome="dropped"}'
        values: '0 1 2 3 4 5x40'
      - series: 'msnaudit_feature_attempts_total{%[2]s,feature="%[3]s",outcome="ok"}'
        values: '0 1 2x40'
      - series: 'msnaudit_feature_verdict{%[2]s,feature="Network detection",verdict="partial"}'
        values: '1x40'
      - series: 'msnaudit_feature_attempts_total{%[2]s,feature="Network detection",outcome="incomplete"}'
        values: '0 1 2 3x40'
      - series: 'msnaudit_capture_kernel_drops_total{%[2]s,interface="eth0"}'
        values: '0 0 0 5 5x30'
      - series: 'msnaudit_flow_table_evictions_total{%[2]s}'
        values: '0 0 3 3x30'
      - series: 'up{%[2]s}'
        values: '1 1 1 0x10'
    alert_rule_test:
      - eval_time: 6m
        alertname: MessengerFeatureBlocked
        exp_alerts: []
      - eval_time: 8m
        alertname: MessengerFeatureBlocked
        exp_alerts:
          - exp_labels: {severity: critical, job: msnaudit, instance: "gw1:9464", feature: File transfer}
            exp_annotations:
              summary: 'Messenger feature "File transfer" is blocked at gw1:9464'
              description: 'Every attempt of "File transfer" seen by msnaudit at gw1:9464 failed, for 5 minutes. The watch''s report (or the dashboard''s attempts by outcome) says how: dropped, refused, reset after the TLS ClientHello, ICMP admin-prohibited, DNS failure, proxy authentication; and what to open, in KB 960820''s terms.'
      - eval_time: 10m
        alertname: MessengerFeaturePartial
        exp_alerts: []
      - eval_time: 17m
        alertname: MessengerFeaturePartial
        exp_alerts:
          - exp_labels: {severity: warning, job: msnaudit, instance: "gw1:9464", feature: %[3]s, verdict: partial}
            exp_annotations:
              summary: 'Messenger feature "%[3]s" partly fails at gw1:9464'
              description: 'Some attempts of "%[3]s" work and others failed in the last 15 minutes at gw1:9464: a filter on some of the feature''s hosts or ports, or a fallback (the HTTP gateway instead of TCP 1863) hiding a block.'
      - eval_time: 25m
        alertname: MessengerFeaturePartial
        exp_alerts: []
      - eval_time: 4m
        alertname: MsnauditCaptureDrops
        exp_alerts:
          - exp_labels: {severity: warning, job: msnaudit, instance: "gw1:9464", interface: eth0}
            exp_annotations:
              summary: 'msnaudit at gw1:9464 lost packets on eth0'
              description: 'The kernel dropped 5 packets for lack of room in the capture ring of eth0 in the last 5 minutes: verdicts may be wrong (a missed SYN-ACK reads as "dropped"). Raise --buffer or --workers, or narrow the capture.'
      - eval_time: 15m
        alertname: MsnauditCaptureDrops
        exp_alerts: []
      - eval_time: 3m
        alertname: MsnauditFlowTableEvictions
        exp_alerts:
          - exp_labels: {severity: warning, job: msnaudit, instance: "gw1:9464"}
            exp_annotations:
              summary: 'msnaudit at gw1:9464 finishes flows early: its flow table is full'
              description: '3 flows were judged before they ended in the last 15 minutes because the flow table was full: their outcomes may be wrong. Raise --max-flows.'
      - eval_time: 4m
        alertname: MsnauditDown
        exp_alerts: []
      - eval_time: 6m
        alertname: MsnauditDown
        exp_alerts:
          - exp_labels: {severity: warning, job: msnaudit, instance: "gw1:9464"}
            exp_annotations:
              summary: 'msnaudit at gw1:9464 cannot be scraped'
              description: 'Prometheus has not scraped msnaudit at gw1:9464 for 2 minutes: the watch stopped, or --metrics listens only on 127.0.0.1 (give a host, e.g. --metrics 0.0.0.0:9464). No Messenger verdict comes from this gateway meanwhile.'
`, abs, gw, signin)
	path := filepath.Join(t.TempDir(), "alerts_test.yml")
	if err := os.WriteFile(path, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// lockedBuffer collects a child's output for the failure message.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeLocalPort returns a port that was free on 127.0.0.1 a moment ago.
func freeLocalPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// promServer is a Prometheus server run for a test.
type promServer struct {
	base   string
	log    *lockedBuffer
	exited chan struct{}
	err    error // the process's exit, once exited is closed
}

// startPrometheus runs Debian's prometheus on 127.0.0.1 with the given config
// until the test ends, and waits until it says it is ready.
func startPrometheus(t *testing.T, bin, dir, config string) *promServer {
	t.Helper()
	var last string
	for try := 0; try < 3; try++ { // the port picked may be taken before prometheus binds it
		p := &promServer{log: &lockedBuffer{}, exited: make(chan struct{})}
		listen := fmt.Sprintf("127.0.0.1:%d", freeLocalPort(t))
		p.base = "http://" + listen
		data := filepath.Join(dir, fmt.Sprintf("data%d", try))
		cmd := exec.Command(bin,
			"--config.file="+config,
			"--storage.tsdb.path="+data,
			"--web.listen-address="+listen,
			"--log.level=info")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = p.log, p.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-p.exited
			}
		})
		err := pollUntil(t, p, 60*time.Second, "prometheus ready", func() (bool, error) {
			resp, err := http.Get(p.base + "/-/ready")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		if err == nil {
			return p
		}
		last = err.Error()
		if !strings.Contains(p.log.String(), "address already in use") {
			break
		}
	}
	t.Fatal(last)
	return nil
}

// pollUntil calls check every 200ms until it says done, the process exits or
// the deadline passes.
func pollUntil(t *testing.T, p *promServer, timeout time.Duration, what string, check func() (bool, error)) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		done, err := check()
		if done {
			return nil
		}
		lastErr = err
		select {
		case <-p.exited:
			return fmt.Errorf("waiting for %s: prometheus exited (%v):\n%s", what, p.err, p.log.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not after %v (last: %v); prometheus log:\n%s", what, timeout, lastErr, p.log.String())
		}
	}
}

// apiGet reads one answer of Prometheus's HTTP API into data.
func (p *promServer) apiGet(path string, query url.Values, data any) error {
	u := p.base + path
	if query != nil {
		u += "?" + query.Encode()
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %v: %.200s", path, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.Status, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p *promServer) query(q string) ([]promSample, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	err := p.apiGet("/api/v1/query", url.Values{"query": {q}}, &data)
	return data.Result, err
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p *promServer) alerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := p.apiGet("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// A real Prometheus scrapes serveMetrics fed with outcomes.pcapng's report,
// evaluates alerts.yml (its "for" durations shortened to 1s), and its HTTP API
// shows the msnaudit series and the alerts firing; once the metrics server
// stops, MsnauditDown fires.
func TestPrometheusScrapesAndAlerts(t *testing.T) {
	bin := prometheusTool(t, "prometheus")
	start := time.Now()
	dir := t.TempDir()

	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	forRE := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`)
	if n := len(forRE.FindAll(alerts, -1)); n < 3 {
		t.Fatalf("alerts.yml has %d for: lines; the test shortens them", n)
	}
	shortAlerts := forRE.ReplaceAll(alerts, []byte("${1}1s"))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), shortAlerts, 0o644); err != nil {
		t.Fatal(err)
	}

	// msnaudit before any Messenger traffic: every series at zero, so that
	// Prometheus sees the counters rise.
	m := newMetrics(classify.Default())
	m.observe(nil, []liveHealth{{"lo", 0, 0}}, 0, 0)
	ctx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	bound, errc, err := serveMetrics(ctx, ":0", m)
	if err != nil {
		t.Fatal(err)
	}

	config := prometheusConfig(bound.String())
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPrometheus(t, bin, dir, configPath)
	t.Logf("prometheus ready at %s after %v, scraping %v", p.base, time.Since(start).Round(time.Millisecond), bound)

	features := len(classify.Default().Features)
	waitSeries := func(what, q string, check func([]promSample) bool) []promSample {
		t.Helper()
		var got []promSample
		err := pollUntil(t, p, 30*time.Second, what, func() (bool, error) {
			var err error
			got, err = p.query(q)
			return err == nil && check(got), err
		})
		if err != nil {
			t.Fatalf("%v\nlast answer: %v", err, got)
		}
		return got
	}
	waitSeries("the zero series scraped", "msnaudit_feature_blocked", func(s []promSample) bool { return len(s) == features })

	// Now the capture sees outcomes.pcapng, the kernel drops 5 packets and
	// the flow table evicts 2 flows.
	_, report := auditForMetrics(t, "outcomes.pcapng", 0)
	m.observe(report, []liveHealth{{"lo", 1000, 5}}, 3, 2)
	blocked := waitSeries("msnaudit_feature_blocked == 1", "msnaudit_feature_blocked == 1",
		func(s []promSample) bool { return len(s) == len(outcomesBlocked) })
	for _, s := range blocked {
		if !outcomesBlocked[s.Metric["feature"]] || s.Metric["job"] != "msnaudit" || s.Metric["instance"] != bound.String() {
			t.Errorf("blocked series %v", s.Metric)
		}
	}
	waitSeries("msnaudit_packets_total", "msnaudit_packets_total", func(s []promSample) bool {
		return len(s) == 1 && s[0].Value[1] == "99"
	})
	waitSeries("the failed sign-in attempts", `sum(msnaudit_feature_attempts_total{feature="Sign in to the Messenger service",outcome!~"ok|incomplete"})`,
		func(s []promSample) bool { return len(s) == 1 && s[0].Value[1] == "6" })

	want := map[string]bool{ // alertname/label value
		"MessengerFeatureBlocked/Voice and video":                    true,
		"MessengerFeatureBlocked/Whiteboard and application sharing": true,
		"MessengerFeatureBlocked/Windows Live Call":                  true,
		"MessengerFeatureBlocked/Games":                              true,
		"MessengerFeaturePartial/Sign in to the Messenger service":   true,
		"MessengerFeaturePartial/Network detection":                  true,
		"MsnauditCaptureDrops/lo":                                    true,
		"MsnauditFlowTableEvictions/":                                true,
	}
	var got []promAlert
	err = pollUntil(t, p, 30*time.Second, "the alerts firing", func() (bool, error) {
		var err error
		if got, err = p.alerts(); err != nil {
			return false, err
		}
		firing := 0
		for _, a := range got {
			key := a.Labels["alertname"] + "/" + a.Labels["feature"] + a.Labels["interface"]
			if !want[key] {
				return false, fmt.Errorf("unexpected alert %s (%s)", key, a.State)
			}
			if a.State == "firing" {
				firing++
			}
		}
		return firing == len(want), nil
	})
	if err != nil {
		t.Fatalf("%v\nalerts: %+v", err, got)
	}
	for _, a := range got {
		if a.Labels["alertname"] == "MessengerFeatureBlocked" && a.Annotations["summary"] !=
			fmt.Sprintf("Messenger feature %q is blocked at %s", a.Labels["feature"], bound.String()) {
			t.Errorf("summary %q", a.Annotations["summary"])
		}
	}
	t.Logf("%d alerts firing after %v", len(got), time.Since(start).Round(time.Millisecond))

	// Every query of the Grafana dashboard parses and runs, with its
	// variables filled in as Grafana would.
	dash, err := os.ReadFile("../../docs/prometheus/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs := regexp.MustCompile(`"expr": ("(?:[^"\\]|\\.)*")`).FindAllSubmatch(dash, -1)
	if len(exprs) < 8 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	fill := strings.NewReplacer("$instance", ".*", "$feature", "Sign in to the Messenger service",
		"$__rate_interval", "1m", "$__range", "5m")
	for _, e := range exprs {
		var expr string
		if err := json.Unmarshal(e[1], &expr); err != nil {
			t.Fatal(err)
		}
		if _, err := p.query(fill.Replace(expr)); err != nil {
			t.Errorf("dashboard query %s: %v", expr, err)
		}
	}
	verdicts, err := p.query(fill.Replace(`max by (instance, feature) (msnaudit_feature_verdict{instance=~"$instance", verdict="blocked"} * 3 or msnaudit_feature_verdict{instance=~"$instance", verdict="partial"} * 2 or msnaudit_feature_verdict{instance=~"$instance", verdict="ok"} * 1 or msnaudit_feature_verdict{instance=~"$instance", verdict="not_seen"} * 0)`))
	if err != nil || len(verdicts) != features {
		t.Errorf("the state timeline's verdict codes: %v %v", verdicts, err)
	}
	for _, v := range verdicts {
		want := map[string]string{"Games": "3", "Sign in to the Messenger service": "2", "File transfer": "0"}[v.Metric["feature"]]
		if want != "" && v.Value[1] != want {
			t.Errorf("verdict code of %s = %v, want %s", v.Metric["feature"], v.Value[1], want)
		}
	}
	if !bytes.Contains(dash, []byte(`max by (instance, feature) (msnaudit_feature_verdict{instance=~\"$instance\", verdict=\"blocked\"} * 3`)) {
		t.Error("the dashboard's state timeline no longer uses the verdict-code query checked here")
	}

	// The watch stops: its metrics server shuts down and Prometheus says so.
	stopMetrics()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	err = pollUntil(t, p, 30*time.Second, "MsnauditDown firing", func() (bool, error) {
		alerts, err := p.alerts()
		for _, a := range alerts {
			if a.Labels["alertname"] == "MsnauditDown" && a.State == "firing" {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MsnauditDown firing %v after the start", time.Since(start).Round(time.Millisecond))
}

// prometheusConfig is a Prometheus configuration that scrapes target and
// evaluates alerts.yml, every second.
func prometheusConfig(target string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: msnaudit
    static_configs:
      - targets: [%q]
`, target)
}
