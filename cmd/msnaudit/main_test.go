package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msnaudit/msnaudit/classify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// runCLI runs the program as a user would, with captured output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const td = "../../testdata/"

func TestGolden(t *testing.T) {
	cases := []struct {
		capture, format string
	}{
		{"sample.pcapng", "table"},
		{"sample.pcapng", "json"},
		{"sample.pcapng", "markdown"},
		{"sample.pcapng", "csv"},
		{"outcomes.pcapng", "table"},
		{"outcomes.pcapng", "json"},
		{"filetransfer.pcap", "json"},
		{"background.pcap", "table"},
	}
	for _, c := range cases {
		name := c.capture + "." + c.format
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", "audit", "--format", c.format, td+c.capture)
			if code != exitOK && code != exitBlocked {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/msnaudit -update)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (review, then go test ./cmd/msnaudit -update):\n%s", golden, out)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	if code, _, _ := runCLI(t, "", "audit", td+"sample.pcapng"); code != exitBlocked {
		t.Errorf("sample (sign-in partial): exit %d, want %d", code, exitBlocked)
	}
	if code, _, errOut := runCLI(t, "", "audit", td+"link-ethernet.pcap"); code != exitOK {
		t.Errorf("a working sign-in: exit %d, want %d: %s", code, exitOK, errOut)
	}
	if code, _, errOut := runCLI(t, "", "audit", "--format", "yaml", td+"sample.pcapng"); code != exitUsage || !strings.Contains(errOut, "--format") {
		t.Errorf("bad --format: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "", "audit"); code != exitUsage {
		t.Errorf("no file: exit %d", code)
	}
	if code, _, _ := runCLI(t, "", "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestBadInputIsOneLineExit2(t *testing.T) {
	cases := map[string]string{
		td + "bad/not-a-capture.txt": "not a pcap or pcapng file",
		td + "bad/empty.pcap":        "empty file",
		td + "bad/corrupt.pcapng":    "at byte offset 104",
		td + "bad/unknown-link.pcap": "unsupported link type 147",
		td + "bad/huge-record.pcap":  "at byte offset",
		td + "bad/header-only.pcap":  "no packets",
		td + "no-such-file.pcap":     "no such file",
		td:                           "directory",
	}
	for file, want := range cases {
		code, out, errOut := runCLI(t, "", "audit", file)
		if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, want) || !strings.Contains(errOut, strings.TrimSuffix(filepath.Base(file), "/")) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and one line naming the file and %q", file, code, out, errOut, want)
		}
	}
}

func TestTruncatedCaptureStillReports(t *testing.T) {
	code, out, errOut := runCLI(t, "", "audit", "--format", "json", td+"bad/truncated.pcap")
	if code == exitUsage {
		t.Fatalf("exit 2: %s", errOut)
	}
	var r classify.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Capture.Truncated || r.Capture.Packets == 0 || !strings.Contains(errOut, "cut short") {
		t.Errorf("truncated %v, %d packets, stderr %q", r.Capture.Truncated, r.Capture.Packets, errOut)
	}
}

func TestInputsMergedGzipAndStdin(t *testing.T) {
	_, plain, _ := runCLI(t, "", "audit", "--format", "json", td+"sample.pcapng")
	_, gz, _ := runCLI(t, "", "audit", "--format", "json", td+"sample.pcap.gz")
	var a, b classify.Report
	json.Unmarshal([]byte(plain), &a)
	json.Unmarshal([]byte(gz), &b)
	a.Capture.Inputs, b.Capture.Inputs = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("sample.pcap.gz reports differently from sample.pcapng")
	}

	data, err := os.ReadFile(td + "link-ethernet.pcap")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, string(data), "audit", "--format", "json", "-")
	if code != exitOK || !strings.Contains(out, `"inputs": [`) {
		t.Errorf("stdin: exit %d, %s", code, errOut)
	}

	code, out, errOut = runCLI(t, "", "audit", "--format", "json", td+"link-ethernet.pcap", td+"outcomes.pcapng")
	var m classify.Report
	if err := json.Unmarshal([]byte(out), &m); err != nil || code == exitUsage {
		t.Fatalf("merge: exit %d %v %s", code, err, errOut)
	}
	var one, two classify.Report
	_, o1, _ := runCLI(t, "", "audit", "--format", "json", td+"link-ethernet.pcap")
	_, o2, _ := runCLI(t, "", "audit", "--format", "json", td+"outcomes.pcapng")
	json.Unmarshal([]byte(o1), &one)
	json.Unmarshal([]byte(o2), &two)
	if m.Capture.Packets != one.Capture.Packets+two.Capture.Packets || len(m.Capture.Inputs) != 2 {
		t.Errorf("merged %d packets from %v, want %d+%d", m.Capture.Packets, m.Capture.Inputs, one.Capture.Packets, two.Capture.Packets)
	}
}

func TestOutputFileAndRules(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "report.md")
	if code, stdout, errOut := runCLI(t, "", "audit", "--format", "markdown", "-o", out, td+"sample.pcapng"); code != exitBlocked || stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, errOut)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(b), "# msnaudit") {
		t.Errorf("report file: %v %q", err, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// A revival server's names, added to the table, are audited the same way.
	_, rulesText, _ := runCLI(t, "", "rules")
	if !strings.Contains(rulesText, "UDP 5004-65525") {
		t.Errorf("msnaudit rules does not print the article's table")
	}
	custom := filepath.Join(dir, "escargot.rules")
	os.WriteFile(custom, []byte(strings.Replace(rulesText, "messenger.hotmail.com:1863", "*.escargot.chat:1863", 1)), 0o644)
	if code, _, errOut := runCLI(t, "", "rules", "--rules", custom); code != exitOK {
		t.Errorf("custom rules rejected: %s", errOut)
	}
	bad := filepath.Join(dir, "bad.rules")
	os.WriteFile(bad, []byte("title text=x\nfeature id=a name=b\nport proto=tcp port=99999 class=range features=a\n"), 0o644)
	if code, _, errOut := runCLI(t, "", "audit", "--rules", bad, td+"sample.pcapng"); code != exitUsage || !strings.Contains(errOut, "bad.rules:3: field port") {
		t.Errorf("bad rules: exit %d %q", code, errOut)
	}
}

func TestSanitizeTerminalOutput(t *testing.T) {
	for in, want := range map[string]string{
		"login.live.com":          "login.live.com",
		"\x1b]0;pwned\x07":        `\x1b]0;pwned\x07`,
		"a\x1b[31mred":            `a\x1b[31mred`,
		"bad\xffutf8":             `bad\xffutf8`,
		"rtl\u202eevil":           `rtl\u{202e}evil`,
		"\u009b31m (C1 CSI)":      `\u{009b}31m (C1 CSI)`,
		"ünïcode.example is fine": "ünïcode.example is fine",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParallelIsIdentical: reading on one goroutine while one or several
// audit gives the same report, byte for byte, as doing both on one.
func TestParallelIsIdentical(t *testing.T) {
	files, _ := filepath.Glob(td + "*.pcap*")
	for _, f := range files {
		if strings.HasSuffix(f, ".json") {
			continue
		}
		_, one, _ := runCLI(t, "", "audit", "--format", "json", "--all-flows", "--parallel=false", f)
		for _, workers := range []string{"1", "3"} {
			_, par, _ := runCLI(t, "", "audit", "--format", "json", "--all-flows", "--workers", workers, f)
			if one == "" || one != par {
				t.Errorf("%s: the report with --workers %s differs from the single-threaded one", f, workers)
			}
		}
	}
}

// TestOutputToADeviceWritesInPlace: -o /dev/null must not replace the device.
func TestOutputToADeviceWritesInPlace(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	if code, _, errOut := runCLI(t, "", "audit", "-o", os.DevNull, td+"sample.pcapng"); code != exitBlocked {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	after, err := os.Stat(os.DevNull)
	if err != nil || after.Mode() != before.Mode() || after.Mode().IsRegular() {
		t.Fatalf("%s changed: %v -> %v (%v)", os.DevNull, before.Mode(), after.Mode(), err)
	}
}

// TestParallelIsIdenticalOnAMappedCapture: a capture large enough to be
// mapped (a gateway's, from the generator: many flows at once, Messenger
// and not) gives the same report, byte for byte, read and audited on one
// goroutine, and mapped, read on one and audited on one or three.
func TestParallelIsIdenticalOnAMappedCapture(t *testing.T) {
	f := filepath.Join(t.TempDir(), "big.pcap")
	gen := exec.Command("go", "run", "./testdata/gen", "-big", "12000", "-o", f)
	gen.Dir = "../.."
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generating the capture: %v\n%s", err, out)
	}
	if st, err := os.Stat(f); err != nil || st.Size() < 8<<20 {
		t.Fatalf("the capture should be over 8 MiB to be mapped: %v, %v", st, err)
	}
	_, one, _ := runCLI(t, "", "audit", "--format", "json", "--parallel=false", f)
	if !strings.Contains(one, `"flows_total"`) {
		t.Fatalf("no report: %.200s", one)
	}
	for _, workers := range []string{"1", "3"} {
		if _, par, _ := runCLI(t, "", "audit", "--format", "json", "--workers", workers, f); par != one {
			t.Errorf("--workers %s: the report differs from the single-threaded one", workers)
		}
	}
}
