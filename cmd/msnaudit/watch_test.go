package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

func TestWatchUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"watch"}, "watch needs at least one interface"},
		{[]string{"watch", "-i", "lo", "extra"}, `watch takes no arguments (got "extra")`},
		{[]string{"watch", "-i", "lo", "--format", "xml"}, `--format "xml" is not table, json, markdown or csv`},
		{[]string{"watch", "-i", "lo", "--workers", "0"}, "--buffer and --workers must be positive"},
		{[]string{"watch", "-i", "lo", "--interval", "0s"}, "--interval must be positive"},
		{[]string{"watch", "-i", "lo", "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		code, _, errOut := runCLI(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, exitUsage, c.want)
		}
	}
	if code, _, errOut := runCLI(t, "", "watch", "-h"); code != exitOK || !strings.Contains(errOut, "-all-traffic") {
		t.Errorf("watch -h: exit %d, %q", code, errOut)
	}
}

func TestWatchMissingInterface(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("live capture is Linux only")
	}
	code, out, errOut := runCLI(t, "", "watch", "-i", "msnaudit-no-such0")
	if code != exitUsage || out != "" || errOut != "msnaudit: interface msnaudit-no-such0: no such interface\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// sampleReport audits the bundled sample capture.
func sampleReport(t *testing.T) *classify.Report {
	t.Helper()
	src, err := capture.Open(td + "sample.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := classify.NewAuditor(classify.DefaultConfig())
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		a.Packet(&p)
	}
	return a.Report([]string{"eth0"}, false)
}

func TestWatchEvents(t *testing.T) {
	r := sampleReport(t)
	now := time.Date(2026, 1, 15, 10, 0, 30, 5, time.UTC)
	for _, format := range []string{"json", "table"} {
		var out bytes.Buffer
		v := &watchView{w: &out, json: format == "json", seen: map[string]bool{}}
		if err := v.update(r, now); err != nil {
			t.Fatal(err)
		}
		first := out.String()
		if err := v.update(r, now); err != nil || out.String() != first {
			t.Errorf("%s: the same failures were printed again", format)
		}
		lines := strings.Split(strings.TrimSpace(first), "\n")
		if len(lines) != len(failures(r, "->")) {
			t.Errorf("%s: %d events, want one per failed attempt (%d):\n%s", format, len(lines), len(failures(r, "->")), first)
		}
		if format == "table" {
			if !strings.HasPrefix(lines[0], "2026-01-15T10:00:30.000000005Z ") || !strings.Contains(first, "dropped tcp 192.0.2.10:49155 -> 198.51.100.20:1863 messenger.hotmail.com [Sign in to the Messenger service] 4 SYNs over 7.0s, no answer") {
				t.Errorf("text events:\n%s", first)
			}
			continue
		}
		for _, l := range lines {
			var ev map[string]any
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			if ev["@timestamp"] != "2026-01-15T10:00:30.000000005Z" || ev["outcome"] == nil ||
				(ev["event"] == "flow") == (ev["client"] == nil) || (ev["event"] == "lookup") == (ev["name"] == nil) {
				t.Errorf("event %s", l)
			}
		}
	}
}

func TestWatchRedraw(t *testing.T) {
	var out bytes.Buffer
	v := &watchView{w: &out, tty: true, seen: map[string]bool{}, ifaces: []string{"eth0"}}
	if err := v.update(sampleReport(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "\x1b[H\x1b[2J") || !strings.Contains(s, "Network detection") || !strings.Contains(s, "4 failed attempts") {
		t.Errorf("redraw:\n%s", s)
	}
}

func TestWatchPcapngFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pcapng")
	o, err := createPcapng(path, []capture.Interface{{Name: "eth0", Link: capture.LinkEthernet, SnapLen: 262144}})
	if err != nil {
		t.Fatal(err)
	}
	o.write(&capture.Packet{Data: make([]byte, 60), Length: 60, Link: capture.LinkEthernet}, t.Logf)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("the file is in place before the watch stops")
	}
	if err := o.finish(); err != nil {
		t.Fatal(err)
	}
	o.abort() // after finish: nothing to do
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var p capture.Packet
	if err := src.Next(&p); err != nil || len(p.Data) != 60 {
		t.Errorf("read back: %v, %d bytes", err, len(p.Data))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".msnaudit-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := createPcapng(filepath.Join(dir, "no", "such", "dir.pcapng"), nil); err == nil {
		t.Error("-w into a missing directory: no error")
	}
}
