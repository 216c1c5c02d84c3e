package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/msnaudit/msnaudit/classify"
)

// failingWriter is a standard output whose reader has gone.
type failingWriter struct{ writes int }

func (w *failingWriter) Write(p []byte) (int, error) { w.writes++; return 0, syscall.EPIPE }

func testGuard(t *testing.T, o *watchOptions, rs *classify.Rules, stdout any) (context.Context, *watchGuard, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	warn := func(format string, a ...any) { fmt.Fprintf(&stderr, "msnaudit: "+format+"\n", a...) }
	ctx, g := startWatchGuard(context.Background(), o, rs, stdout.(interface{ Write([]byte) (int, error) }), &stderr, warn)
	t.Cleanup(g.stop)
	return ctx, g, &stderr
}

// A standard output that fails stops the watch (its context ends) after
// one line that says where the final report goes; later writes are not
// tried; the report goes to standard error, or to -o.
func TestWatchGuardStdoutGone(t *testing.T) {
	r := sampleReport(t)
	for _, output := range []string{"", filepath.Join(t.TempDir(), "r.json")} {
		stdout := &failingWriter{}
		ctx, g, stderr := testGuard(t, &watchOptions{format: "json", output: output}, classify.Default(), stdout)
		for _, line := range []string{"an event", "another event"} {
			if _, err := fmt.Fprintln(g.out, line); err != nil {
				t.Fatalf("the view sees the error: %v", err) // it must not: the watch stops by its context
			}
		}
		if ctx.Err() == nil {
			t.Fatal("the watch goes on after standard output failed")
		}
		if stdout.writes != 1 {
			t.Errorf("%d writes to the failed standard output, want 1", stdout.writes)
		}
		place := output
		if place == "" {
			place = "standard error"
		}
		want := "msnaudit: standard output is gone (broken pipe): stopping; the final report goes to " + place + "\n"
		if stderr.String() != want {
			t.Errorf("stderr %q, want %q", stderr.String(), want)
		}
		stderr.Reset()
		if err := g.writeReport(r, false); err != nil {
			t.Fatal(err)
		}
		got := stderr.Bytes()
		if output != "" {
			if got, _ = os.ReadFile(output); stderr.Len() != 0 {
				t.Errorf("stderr with -o: %q", stderr.String())
			}
		}
		var back classify.Report
		if err := json.Unmarshal(got, &back); err != nil || back.Capture.Packets != r.Capture.Packets {
			t.Errorf("report (-o %q): %v, %d packets", output, err, back.Capture.Packets)
		}
	}
}

// The final report falls back to standard error when standard output
// fails while it is written, and when -o cannot be written (with -o's
// error as the exit status).
func TestWatchReportFallsBack(t *testing.T) {
	r := sampleReport(t)
	_, g, stderr := testGuard(t, &watchOptions{format: "json"}, classify.Default(), &failingWriter{})
	if err := g.writeReport(r, false); err != nil {
		t.Fatal(err)
	}
	line, rest, _ := strings.Cut(stderr.String(), "\n")
	if line != "msnaudit: standard output is gone (broken pipe); the final report follows on standard error" || !json.Valid([]byte(rest)) {
		t.Errorf("stderr:\n%s", stderr)
	}

	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "r.json")
	_, g, stderr = testGuard(t, &watchOptions{format: "json", output: bad}, classify.Default(), &bytes.Buffer{})
	err := g.writeReport(r, false)
	line, rest, _ = strings.Cut(stderr.String(), "\n")
	if err == nil || !strings.Contains(line, bad) || !strings.HasSuffix(line, "; the final report follows on standard error") || !json.Valid([]byte(rest)) {
		t.Errorf("-o %s: %v; stderr:\n%s", bad, err, stderr)
	}
}

// fakeEngine records the rule tables it is given.
type fakeEngine struct{ got []*classify.Rules }

func (e *fakeEngine) reloadRules(rs *classify.Rules) error { e.got = append(e.got, rs); return nil }

// metricValue finds one sample among the metrics' samples.
func metricValue(t *testing.T, m *metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	m.mu.Lock()
	samples := m.samples
	m.mu.Unlock()
	for _, s := range samples {
		if !strings.Contains(s.Desc().String(), `"`+name+`"`) {
			continue
		}
		var d dto.Metric
		if err := s.Write(&d); err != nil {
			t.Fatal(err)
		}
		match := true
		for _, lp := range d.Label {
			if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		if d.Counter != nil {
			return d.Counter.GetValue(), true
		}
		return d.Gauge.GetValue(), true
	}
	return 0, false
}

// TestWatchGuardReload: SIGHUP (here put on the guard's channel; the
// end-to-end test sends the signal) reads --rules again. A malformed table
// and one that drops a row are refused in one line each, even with
// --quiet; a good one goes to the auditor, the metrics (new series at
// zero, the title) and an engine that selects packets by the rules; a
// table with new ports says that the kernel does not select them yet.
func TestWatchGuardReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.rules")
	base := string(classify.Default().Text)
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(base)
	rs, err := loadRules(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := classify.DefaultConfig()
	cfg.Rules = rs
	a := classify.NewAuditor(cfg)
	m := newMetrics(rs)
	eng := &fakeEngine{}
	_, g, stderr := testGuard(t, &watchOptions{rules: path, quiet: true}, rs, &bytes.Buffer{})
	g.warn = func(format string, a ...any) { fmt.Fprintf(stderr, "msnaudit: "+format+"\n", a...) } // not quiet: see the success lines too
	hup := func() string {
		t.Helper()
		stderr.Reset()
		g.hup <- syscall.SIGHUP
		g.poll(a, m, eng)
		g.poll(a, m, eng) // nothing pending: nothing happens
		return stderr.String()
	}

	lines := strings.Count(base, "\n")
	write(base + "url url=http://bad.example:99999 features=signin\n")
	if got, want := hup(), fmt.Sprintf("msnaudit: SIGHUP: %s:%d: field url: port \"99999\" is not 1-65535; the rules in use stay\n", path, lines+1); got != want {
		t.Errorf("malformed: %q, want %q", got, want)
	}
	write(strings.Replace(base, "url url=http://rad.msn.com ", "# ", 1))
	if got := hup(); !strings.HasPrefix(got, "msnaudit: SIGHUP: "+path+`: the new rules drop the URL row "http://rad.msn.com"`) || strings.Count(got, "\n") != 1 {
		t.Errorf("a row dropped: %q", got)
	}
	os.Remove(path)
	if got := hup(); !strings.HasPrefix(got, "msnaudit: SIGHUP: rules: open "+path+": no such file or directory") {
		t.Errorf("no file: %q", got)
	}
	if len(eng.got) != 0 || g.rules != rs {
		t.Fatal("a refused table was taken")
	}

	const row = "http://*.escargot.example"
	good := strings.Replace(base, `title text="Windows Live Messenger 2009 (KB 960820)"`, `title text="Escargot"`, 1) +
		"url url=" + row + ` features=signin source=practice function="Escargot"` + "\n"
	write(good)
	if got, want := hup(), fmt.Sprintf("msnaudit: SIGHUP: rules read again from %s (%d features, %d URL rows): flows judged from now on use them; the counts so far stay\n",
		path, len(rs.Features), len(rs.URLs)+1); got != want {
		t.Errorf("good: %q, want %q", got, want)
	}
	if len(eng.got) != 1 || eng.got[0].Title != "Escargot" || g.rules.Title != "Escargot" {
		t.Errorf("the engine got %d tables", len(eng.got))
	}
	if r := a.Snapshot(nil); r.Rules != "Escargot" || r.URLs[len(r.URLs)-1].URL != row {
		t.Errorf("the auditor's rules: %q", r.Rules)
	}
	if v, ok := metricValue(t, m, "msnaudit_url_attempts_total", map[string]string{"url": row}); !ok || v != 0 {
		t.Errorf("metrics: the new row's series: %v %v", v, ok)
	}
	if _, ok := metricValue(t, m, "msnaudit_build_info", map[string]string{"rules": "Escargot"}); !ok {
		t.Error("metrics: build_info has the old title")
	}
	m.observe(a.Snapshot(nil), nil, 0, 0) // observe takes the grown series

	// A table with a port the old one has not: the engine gets it too (the
	// AF_PACKET engine replaces its socket filters, the eBPF engine its port
	// map).
	write(good + "port proto=tcp port=5222 class=distinctive features=signin\n")
	if got := hup(); !strings.Contains(got, "msnaudit: SIGHUP: rules read again") {
		t.Errorf("new port: %q", got)
	}
	if n := len(eng.got); n != 2 || len(eng.got[1].Ports) != len(rs.Ports)+1 {
		t.Errorf("the engine got %d tables; the last without the new port", n)
	}

	// No --rules: nothing to read.
	g.o.rules = ""
	if got := hup(); got != "msnaudit: SIGHUP: no --rules file to read again; the built-in table stays\n" {
		t.Errorf("no --rules: %q", got)
	}
}
