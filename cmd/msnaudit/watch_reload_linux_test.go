//go:build linux

package main

// End-to-end tests, with the real binary in a network namespace, of what
// the watch does so that nothing it counted is lost: SIGHUP reloads --rules
// and keeps the counts; a standard output that goes away stops the watch
// with the final report. Root only, like e2e_test.go.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msnaudit/msnaudit/classify"
)

const (
	reloadRoleEnv = "MSNAUDIT_RELOAD_HOSTS"
	reloadPortEnv = "MSNAUDIT_RELOAD_PORT"
)

// TestReloadHelperProcess serves HTTP on 127.0.0.1:$MSNAUDIT_RELOAD_PORT
// and makes one request to it per host of $MSNAUDIT_RELOAD_HOSTS
// (comma-separated), with that Host header; it prints "HOST CLIENT-ADDRESS"
// per request. Run inside a namespace by the tests below.
func TestReloadHelperProcess(t *testing.T) {
	hosts := os.Getenv(reloadRoleEnv)
	if hosts == "" {
		t.Skip("the helper process of TestWatchReloadRules")
	}
	if err := reloadHelper(os.Getenv(reloadPortEnv), strings.Split(hosts, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "http helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func reloadHelper(port string, hosts []string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
			}()
		}
	}()
	for _, h := range hosts {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", h)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(c)
		c.Close()
		if err != nil {
			return err
		}
		fmt.Println(h, c.LocalAddr())
	}
	return nil
}

// httpFrom makes the helper's requests to port 80 in ns and returns each
// host's client address.
func httpFrom(t *testing.T, ns string, hosts ...string) map[string]string {
	t.Helper()
	return httpFromPort(t, ns, "80", hosts...)
}

func httpFromPort(t *testing.T, ns, port string, hosts ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestReloadHelperProcess$")
	cmd.Env = append(os.Environ(), reloadRoleEnv+"="+strings.Join(hosts, ","), reloadPortEnv+"="+port)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("http helper: %v\n%s", err, out)
	}
	clients := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if h, c, ok := strings.Cut(line, " "); ok {
			clients[h] = c
		}
	}
	if len(clients) != len(hosts) {
		t.Fatalf("http helper: %q", out)
	}
	return clients
}

// waitMetric scrapes the watch's /metrics in ns until a line is there,
// every pause.
func waitMetric(t *testing.T, ns, url, line string, pause time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a failsafe, not a synchronisation
	for {
		body, err := helperCmd(ns, "get", "MSNAUDIT_E2E_URL="+url).Output()
		if err == nil && strings.Contains(string(body), "\n"+line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s within 30s (%v):\n%s", line, url, err, body)
		}
		time.Sleep(pause)
	}
}

func metricsURL(t *testing.T, stderr string) string {
	t.Helper()
	const prefix = "msnaudit: metrics on "
	i := strings.Index(stderr, prefix)
	if i < 0 {
		t.Fatalf("no %q line:\n%s", prefix, stderr)
	}
	url, _, _ := strings.Cut(stderr[i+len(prefix):], "\n")
	return url
}

// TestWatchReloadRules: SIGHUP to the running watch. Flows judged before
// the reload keep their counts in the final report; a host that only the
// new rules name is attributed in the flows after it; a malformed table and
// one that drops a row are refused in one line each and change nothing;
// the metrics get the new row's series.
func TestWatchReloadRules(t *testing.T) {
	requireE2E(t)
	began := time.Now()
	bin := buildBinary(t)
	ns := newNamespaces(t, "reload")[0]
	dir := t.TempDir()
	rules := filepath.Join(dir, "watch.rules")
	base := string(classify.Default().Text)
	write := func(text string) { // as editors do: a new file renamed over the old
		t.Helper()
		if err := os.WriteFile(rules+".new", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(rules+".new", rules); err != nil {
			t.Fatal(err)
		}
	}
	write(base)
	report := filepath.Join(dir, "report.json")
	w := startWatch(t, ns, bin, "--engine", "afpacket", "-i", "lo", "--rules", rules, "--interval", "200ms", "--idle-timeout", "1s",
		"--all-flows", "--format", "json", "-o", report, "--metrics", "127.0.0.1:0")
	url := metricsURL(t, w.stderr.String())

	// Before: sign-in ok (the gateway's name), a name the rules do not know,
	// a whiteboard connection refused; judged (idle past 1s) before the
	// reload, under the first rules.
	before := httpFrom(t, ns, "gateway.messenger.hotmail.com", "chat.escargot.example")
	dialTo(t, ns, "127.0.0.1:1503")
	w.stdout.wait(t, "watch", `"server":"127.0.0.1:1503"`)
	waitMetric(t, ns, url, `msnaudit_feature_attempts_total{feature="Whiteboard and application sharing",outcome="refused"} 1`, 100*time.Millisecond)
	// Each scrape is a flow too (its handshake passes the filter): scraped
	// every 1.5s, the table is empty once every flow before is judged.
	waitMetric(t, ns, url, "msnaudit_flow_table_flows 0", 1500*time.Millisecond)

	hup := func(want string) {
		t.Helper()
		if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		w.stderr.wait(t, "watch", want)
	}
	write(base + "url url=http://bad.example:99999 features=signin\n")
	hup(fmt.Sprintf("msnaudit: SIGHUP: %s:%d: field url: port \"99999\" is not 1-65535; the rules in use stay\n", rules, strings.Count(base, "\n")+1))
	write(strings.Replace(base, "url url=http://rad.msn.com ", "# ", 1))
	hup(`msnaudit: SIGHUP: ` + rules + `: the new rules drop the URL row "http://rad.msn.com"`)
	const row = "http://*.escargot.example"
	write(strings.Replace(base, `title text="Windows Live Messenger 2009 (KB 960820)"`, `title text="Escargot"`, 1) +
		"url url=" + row + ` features=signin source=practice function="Escargot"` + "\n" +
		"port proto=tcp port=8864 class=distinctive features=signin\n")
	hup("msnaudit: SIGHUP: rules read again from " + rules)
	waitMetric(t, ns, url, `msnaudit_url_attempts_total{url="`+row+`"} 0`, 100*time.Millisecond)

	// After: the name the new rules know; and a request to a port only the
	// new rules name, whose payload (the Host header) the socket filter
	// passes only once the reload installed the new one.
	after := httpFrom(t, ns, "chat.escargot.example")
	waitMetric(t, ns, url, `msnaudit_url_attempts_total{url="`+row+`"} 1`, 100*time.Millisecond)
	newPort := httpFromPort(t, ns, "8864", "port.escargot.example")
	waitMetric(t, ns, url, `msnaudit_url_attempts_total{url="`+row+`"} 2`, 100*time.Millisecond)

	if code := w.stop(t, true); code != exitBlocked {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
	}
	t.Logf("stderr:\n%s", w.stderr)
	if n := strings.Count(w.stderr.String(), "msnaudit: SIGHUP: "); n != 3 {
		t.Errorf("%d SIGHUP lines, want 3 (one per reload)", n)
	}
	r := readReport(t, report)
	if r.Rules != "Escargot" {
		t.Errorf("rules %q at the end", r.Rules)
	}
	flows := map[string]classify.FlowRecord{}
	for _, f := range r.Flows {
		flows[f.Client+" "+f.Server] = f
	}
	for _, c := range []struct {
		client, server, url, evidence string
	}{
		{before["gateway.messenger.hotmail.com"], "127.0.0.1:80", "http://gateway.messenger.hotmail.com", "host"},
		{before["chat.escargot.example"], "127.0.0.1:80", "", ""}, // judged before the reload
		{after["chat.escargot.example"], "127.0.0.1:80", row, "host"},
		{newPort["port.escargot.example"], "127.0.0.1:8864", row, "host"},
	} {
		f, ok := flows[c.client+" "+c.server]
		if !ok || f.Outcome != classify.OK || f.URL != c.url || f.Evidence != c.evidence {
			t.Errorf("flow from %s: %+v (listed %v); want ok, url %q, evidence %q", c.client, f, ok, c.url, c.evidence)
		}
	}
	features := map[string]classify.FeatureResult{}
	for _, f := range r.Features {
		features[f.Feature] = f
	}
	if f := features["Sign in to the Messenger service"]; f.OK != 3 || f.Failed != 0 {
		t.Errorf("sign-in: %+v, want 3 ok (the gateway before, the new name after, on port 80 and on the new port)", f)
	}
	if f := features["Whiteboard and application sharing"]; f.Failed != 1 || f.Outcomes["refused"] != 1 || f.Verdict != classify.Blocked {
		t.Errorf("whiteboard (counted before the reload): %+v", f)
	}
	if u := r.URLs[len(r.URLs)-1]; u.URL != row || u.Flows != 2 || u.OK != 2 {
		t.Errorf("the new row: %+v", u)
	}
	t.Logf("in %s", time.Since(began).Round(time.Millisecond))
}

// pipedWatch is a watch whose standard output is a pipe the test reads
// and closes.
type pipedWatch struct {
	cmd    *exec.Cmd
	stdout *os.File // the pipe's reading end
	stderr *lineLog
	done   chan error
}

func startPipedWatch(t *testing.T, ns, bin string, args ...string) *pipedWatch {
	t.Helper()
	w := &pipedWatch{cmd: exec.Command("ip", append([]string{"netns", "exec", ns, bin, "watch"}, args...)...), done: make(chan error, 1)}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.stdout = pr
	w.cmd.Stdout = pw
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close() // the child has it
	w.stderr = readLines(stderr)
	go func() {
		<-w.stderr.ended()
		w.done <- w.cmd.Wait()
	}()
	t.Cleanup(func() { pr.Close(); w.cmd.Process.Kill(); err := <-w.done; w.done <- err })
	w.stderr.wait(t, "watch", "msnaudit: watching ")
	return w
}

// wait returns the watch's exit status once it has stopped by itself.
func (w *pipedWatch) wait(t *testing.T) int {
	t.Helper()
	var err error
	select {
	case err = <-w.done:
		w.done <- err
	case <-time.After(30 * time.Second): // a failsafe
		t.Fatalf("the watch did not stop; stderr:\n%s", w.stderr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	t.Fatalf("watch: %v (killed by a signal?); stderr:\n%s", err, w.stderr)
	return -1
}

// reportAfter parses the JSON report that follows line on standard error.
func reportAfter(t *testing.T, stderr, line string) *classify.Report {
	t.Helper()
	i := strings.Index(stderr, line)
	if i < 0 {
		t.Fatalf("no %q on stderr:\n%s", line, stderr)
	}
	rest := stderr[i+len(line):]
	j := strings.Index("\n"+rest, "\n{\n")
	if j < 0 {
		t.Fatalf("no report after %q:\n%s", line, stderr)
	}
	var r classify.Report
	if err := json.Unmarshal([]byte(rest[j:]), &r); err != nil {
		t.Fatalf("report on stderr: %v\n%s", err, rest)
	}
	return &r
}

// TestWatchClosedStdout: the reader of the watch's standard output goes
// away. The watch notices (between events too), stops and writes the final
// report to standard error, or to -o; closed before anything was written,
// the final report's own write fails with EPIPE and does not kill it.
func TestWatchClosedStdout(t *testing.T) {
	requireE2E(t)
	bin := buildBinary(t)
	ns := newNamespaces(t, "stdout")[0]
	args := []string{"--engine", "afpacket", "-i", "lo", "--interval", "200ms", "--format", "json"}

	t.Run("reader exits", func(t *testing.T) {
		began := time.Now()
		w := startPipedWatch(t, ns, bin, args...)
		dialTo(t, ns, "127.0.0.1:1503")
		sc := bufio.NewScanner(w.stdout)
		for sc.Scan() && !strings.Contains(sc.Text(), `"server":"127.0.0.1:1503"`) {
		}
		w.stdout.Close() // the reader exits after the event
		if code := w.wait(t); code != exitBlocked {
			t.Errorf("exit status %d, want %d", code, exitBlocked)
		}
		r := reportAfter(t, w.stderr.String(), "msnaudit: standard output is gone (nobody reads it any more): stopping; the final report goes to standard error\n")
		if o, ok := flowOutcome(r, "tcp", "127.0.0.1:1503"); !ok || o != classify.Refused {
			t.Errorf("the report lost the refused flow: %v %v", o, ok)
		}
		t.Logf("stopped and reported in %s", time.Since(began).Round(time.Millisecond))
	})

	t.Run("-o", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "r.json")
		w := startPipedWatch(t, ns, bin, append(args, "-o", report)...)
		dialTo(t, ns, "127.0.0.1:1503")
		w.stdout.Close() // nothing read: the event's write fails, or poll sees it first
		if code := w.wait(t); code != exitBlocked {
			t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
		}
		if !strings.Contains(w.stderr.String(), "): stopping; the final report goes to "+report+"\n") {
			t.Errorf("stderr:\n%s", w.stderr)
		}
		if o, ok := flowOutcome(readReport(t, report), "tcp", "127.0.0.1:1503"); !ok || o != classify.Refused {
			t.Errorf("the report lost the refused flow: %v %v", o, ok)
		}
	})

	t.Run("closed at once, then SIGINT", func(t *testing.T) {
		w := startPipedWatch(t, ns, bin, args...)
		w.stdout.Close()
		w.cmd.Process.Signal(os.Interrupt) // may come after the watch stopped by itself
		if code := w.wait(t); code != exitOK {
			t.Errorf("exit status %d, want %d", code, exitOK)
		}
		stderr := w.stderr.String()
		// The report's write fails with EPIPE (or poll saw it first).
		line := "msnaudit: standard output is gone (write /dev/stdout: broken pipe); the final report follows on standard error\n"
		if !strings.Contains(stderr, line) {
			line = "; the final report goes to standard error\n"
		}
		if r := reportAfter(t, stderr, line); r.Schema != classify.Schema {
			t.Errorf("report %+v", r)
		}
	})
}
