package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/msnaudit/msnaudit/classify"
)

// The hostile-capture suite (issue 6, item 2) through the CLI: every capture
// in testdata/hostile/ is audited in every format, as a user would, and the
// human formats must not carry a byte that a terminal, a markdown viewer or a
// spreadsheet would act on.

// suiteExpect is a testdata/hostile/*.expect.json file (see testdata/gen/hostile.go).
type suiteExpect struct {
	Packets      int    `json:"packets"`
	MalformedMin int    `json:"malformed_min"`
	Truncated    bool   `json:"truncated"`
	Error        bool   `json:"error"`
	Offset       int64  `json:"offset"`
	FieldOffset  int64  `json:"field_offset"`
	Note         string `json:"note"`
}

// runRecovered is runCLI turning a panic of run into an error with its stack.
func runRecovered(stdin string, args ...string) (code int, stdout, stderr, panicked string) {
	var out, errb bytes.Buffer
	func() {
		defer func() {
			if v := recover(); v != nil {
				panicked = fmt.Sprintf("%v\n%s", v, debug.Stack())
			}
		}()
		code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	}()
	return code, out.String(), errb.String(), panicked
}

// unsafeForTerminal finds the first byte sequence of s a terminal or viewer
// could act on: a C0 control other than tab, newline and carriage return
// (ESC and BEL among them), DEL, a C1 control (U+0080-U+009F), a
// bidirectional override, isolate or mark, or invalid UTF-8. It returns its
// offset and what it is, or -1.
func unsafeForTerminal(s string) (int, string) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return i, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", s[i])
		case r == 0x1b:
			return i, "a raw ESC (0x1b)"
		case r == 0x07:
			return i, "a raw BEL (0x07)"
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f:
			return i, fmt.Sprintf("a raw control character 0x%02x", r)
		case r >= 0x80 && r < 0xa0:
			return i, fmt.Sprintf("a raw C1 control U+%04X", r)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			return i, fmt.Sprintf("a raw bidirectional control U+%04X", r)
		}
		i += n
	}
	return -1, ""
}

// around quotes s near offset i.
func around(s string, i int) string {
	lo, hi := max(0, i-40), min(len(s), i+40)
	return fmt.Sprintf("%q", s[lo:hi])
}

// sgr matches the colour sequences the table itself writes.
var sgr = regexp.MustCompile(`^\x1b\[[0-9;]*m`)

var offsetRE = regexp.MustCompile(`at byte offset (\d+)`)

func TestHostileCaptureSuite(t *testing.T) {
	files, err := filepath.Glob(td + "hostile/*.expect.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("%d expectations in %shostile (run go run ./testdata/gen): %v", len(files), td, err)
	}
	for _, ef := range files {
		path := strings.TrimSuffix(ef, ".expect.json")
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(ef)
			if err != nil {
				t.Fatal(err)
			}
			var want suiteExpect
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			codes := map[string]int{}
			for _, format := range []string{"table", "markdown", "csv", "json"} {
				code, out, errOut, panicked := runRecovered("", "audit", "--format", format, path)
				if panicked != "" {
					t.Fatalf("BUG: msnaudit audit --format %s %s panics (%s): %s", format, path, want.Note, panicked)
				}
				if want.Error {
					checkRefused(t, format, name, &want, code, out, errOut)
					continue
				}
				codes[format] = code
				if code != exitOK && code != exitBlocked {
					t.Errorf("--format %s: exit %d, want 0 or 1; stderr %q", format, code, errOut)
					continue
				}
				if i, what := unsafeForTerminal(errOut); i >= 0 {
					t.Errorf("BUG: --format %s: standard error carries %s at byte %d: %s", format, what, i, around(errOut, i))
				}
				if format == "json" {
					checkJSONReport(t, &want, out)
					continue
				}
				if i, what := unsafeForTerminal(out); i >= 0 {
					t.Errorf("BUG: --format %s: the output carries %s at byte %d: %s", format, what, i, around(out, i))
				}
			}
			if name == "hostile-names.pcap" {
				checkNamesShown(t, path)
			}
			if !want.Error && (codes["table"] != codes["markdown"] || codes["table"] != codes["csv"] || codes["table"] != codes["json"]) {
				t.Errorf("exit codes differ between formats: %v", codes)
			}
			if want.Error {
				return
			}
			// With colour, the only escape sequences are the table's own colours.
			code, out, _, panicked := runRecovered("", "audit", "--color", "always", "--all-flows", path)
			if panicked != "" {
				t.Fatalf("BUG: msnaudit audit --color always --all-flows %s panics: %s", path, panicked)
			}
			if code != codes["table"] {
				t.Errorf("--color always --all-flows: exit %d, want %d", code, codes["table"])
			}
			plain := out
			for i := strings.IndexByte(plain, 0x1b); i >= 0; i = strings.IndexByte(plain, 0x1b) {
				m := sgr.FindString(plain[i:])
				if m == "" {
					t.Errorf("BUG: --color always: an escape sequence that is not a colour: %s", around(plain, i))
					break
				}
				plain = plain[:i] + plain[i+len(m):]
			}
			if i, what := unsafeForTerminal(plain); i >= 0 {
				t.Errorf("BUG: --color always --all-flows: the output carries %s at byte %d: %s", what, i, around(plain, i))
			}
		})
	}
}

// checkRefused: an input that must be refused exits 2 with one line naming
// the file and the offset of the lie.
func checkRefused(t *testing.T, format, name string, want *suiteExpect, code int, out, errOut string) {
	t.Helper()
	if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
		t.Errorf("--format %s: exit %d, stdout %q, stderr %q; want exit 2, no output and one line", format, code, out, errOut)
	}
	if !strings.Contains(errOut, name) {
		t.Errorf("--format %s: %q does not name the file %s", format, errOut, name)
	}
	m := offsetRE.FindStringSubmatch(errOut)
	if m == nil || m[1] != fmt.Sprint(want.Offset) && m[1] != fmt.Sprint(want.FieldOffset) {
		t.Errorf("--format %s: %q does not give offset %d (the record or block) or %d (its length field)",
			format, errOut, want.Offset, want.FieldOffset)
	}
	if i, what := unsafeForTerminal(errOut); i >= 0 {
		t.Errorf("BUG: --format %s: standard error carries %s: %s", format, what, around(errOut, i))
	}
}

// checkJSONReport: the JSON report reads back, with the expected counts.
func checkJSONReport(t *testing.T, want *suiteExpect, out string) {
	t.Helper()
	if !utf8.ValidString(out) || strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("BUG: the JSON report is not UTF-8 or carries a raw ESC or BEL")
	}
	var r classify.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--format json: %v", err)
	}
	if int(r.Capture.Packets) != want.Packets || r.Capture.Truncated != want.Truncated || int(r.Capture.Malformed) < want.MalformedMin {
		t.Errorf("BUG? --format json: %d packets, %d malformed, truncated %v; want %d, at least %d, %v "+
			"(go test ./classify -run TestHostileCaptures names the records)",
			r.Capture.Packets, r.Capture.Malformed, r.Capture.Truncated, want.Packets, want.MalformedMin, want.Truncated)
	}
}

// checkNamesShown: the hostile names are in the human formats, escaped, not
// dropped (a sanitizer that deleted the rows would pass the byte checks).
func checkNamesShown(t *testing.T, path string) {
	t.Helper()
	for format, want := range map[string]string{
		"table":    `\x1b]0;pwned\x07.contacts.msn.com`,
		"csv":      `\x1b]0;pwned\x07.contacts.msn.com`,
		"markdown": "pwned",
	} {
		_, out, _, _ := runRecovered("", "audit", "--format", format, path)
		if !strings.Contains(out, want) {
			t.Errorf("--format %s: the escaped name %s is not in the output", format, want)
		}
	}
}

// TestUnsafeForTerminal: the suite's detector finds what it must.
func TestUnsafeForTerminal(t *testing.T) {
	for _, s := range []string{"a\x1b]0;x\x07", "\x07", "a\x00", "\x7f", "\u009b2J", "\u202egnp", "\u2066", "\xff", "\xe2\x80", "\xc0\xaf"} {
		if i, _ := unsafeForTerminal(s); i < 0 {
			t.Errorf("unsafeForTerminal(%q) finds nothing", s)
		}
	}
	for _, s := range []string{"login.live.com", "tab\there\r\n", "ünïcode 漢字 \ufffd", `\x1b]0;pwned\x07`} {
		if i, what := unsafeForTerminal(s); i >= 0 {
			t.Errorf("unsafeForTerminal(%q) finds %s at %d", s, what, i)
		}
	}
}
