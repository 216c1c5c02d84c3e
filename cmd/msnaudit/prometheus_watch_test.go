package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestPrometheusScrapesWatch: a real Prometheus server scrapes a real
// `msnaudit watch --metrics` capturing on loopback, while a client's TCP
// connection to 1863 is refused; Prometheus's HTTP API then holds the
// msnaudit series and the sign-in alert.
func TestPrometheusScrapesWatch(t *testing.T) {
	requireE2E(t)
	promBin := prometheusTool(t, "prometheus")
	bin := buildBinary(t)
	dir := t.TempDir()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freeLocalPort(t))

	// The watch, on loopback only (other tests' loopback traffic may show
	// up too; the assertions below hold whatever else it sees).
	w := &watchProc{cmd: exec.Command(bin, "watch", "-i", "lo", "--engine", "afpacket", "--interval", "500ms",
		"--grace", "100ms", "--metrics", metricsAddr, "--format", "json", "-o", filepath.Join(dir, "final.json")), done: make(chan error, 1)}
	stdout, _ := w.cmd.StdoutPipe()
	stderr, _ := w.cmd.StderrPipe()
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.stdout, w.stderr = readLines(stdout), readLines(stderr)
	go func() {
		<-w.stdout.ended()
		<-w.stderr.ended()
		w.done <- w.cmd.Wait()
	}()
	t.Cleanup(func() { w.cmd.Process.Kill(); err := <-w.done; w.done <- err })
	w.stderr.wait(t, "watch", "msnaudit: watching ")

	// A sign-in attempt that is refused: nothing listens on 127.0.0.1:1863
	// (the listener is closed before the dial, so the port is known free).
	ln, err := net.Listen("tcp", "127.0.0.1:1863")
	if err != nil {
		t.Skipf("127.0.0.1:1863 is in use here: %v", err)
	}
	ln.Close()
	if c, err := net.Dial("tcp", "127.0.0.1:1863"); err == nil {
		c.Close()
		t.Fatal("a connection to 127.0.0.1:1863 succeeded; the test needs it refused")
	}

	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	short := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`).ReplaceAll(alerts, []byte("${1}1s"))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), short, 0o644); err != nil {
		t.Fatal(err)
	}
	config := prometheusConfig(metricsAddr)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPrometheus(t, promBin, dir, configPath)

	var got []promSample
	refused := `msnaudit_feature_attempts_total{job="msnaudit",feature="Sign in to the Messenger service",outcome="refused"} >= 1`
	if err := pollUntil(t, p, 60*time.Second, "the refused sign-in in Prometheus", func() (bool, error) {
		var err error
		got, err = p.query(refused)
		return err == nil && len(got) == 1, err
	}); err != nil {
		t.Fatalf("%v\nwatch stderr:\n%s", err, w.stderr)
	}
	if err := pollUntil(t, p, 30*time.Second, "packets counted", func() (bool, error) {
		got, err := p.query(`msnaudit_packets_total{job="msnaudit"} > 0`)
		return err == nil && len(got) == 1, err
	}); err != nil {
		t.Fatal(err)
	}
	var alertsNow []promAlert
	if err := pollUntil(t, p, 30*time.Second, "the sign-in alert", func() (bool, error) {
		var err error
		if alertsNow, err = p.alerts(); err != nil {
			return false, err
		}
		for _, a := range alertsNow {
			if a.Labels["feature"] == "Sign in to the Messenger service" &&
				(a.Labels["alertname"] == "MessengerFeatureBlocked" || a.Labels["alertname"] == "MessengerFeaturePartial") {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("%v: alerts %v", err, alertsNow)
	}
	if code := w.stop(t, true); code != exitBlocked {
		t.Errorf("watch exit %d, want %d", code, exitBlocked)
	}
}
