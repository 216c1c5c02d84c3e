package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/msnaudit/msnaudit/capture"
)

// The hostile-capture suite (issue 6, item 2): testdata/hostile/ holds
// captures the generator (testdata/gen/hostile*.go) built to hurt a packet
// auditor. Each is audited here as the CLI does it, and must give a report:
// no panic, every record read, at least the malformed packets the generator
// put in counted, the truncation told, and no string from the wire in the
// report longer than a sane bound.

// hostileExpect is a testdata/hostile/*.expect.json file.
type hostileExpect struct {
	Packets      int    `json:"packets"`
	MalformedMin int    `json:"malformed_min"`
	Truncated    bool   `json:"truncated"`
	Error        bool   `json:"error"`
	Offset       int64  `json:"offset"`
	FieldOffset  int64  `json:"field_offset"`
	Note         string `json:"note"`
	Records      []struct {
		Record    int    `json:"record"`
		Malformed bool   `json:"malformed"`
		What      string `json:"what"`
	} `json:"records"`
}

// hostileResult is what auditing one hostile capture gave.
type hostileResult struct {
	report  *Report
	packets int   // records the reader delivered
	err     error // the reader's error other than io.EOF and truncation
	panic   string
	// notCounted lists the records the expectation calls malformed that,
	// audited alone, were not counted as malformed.
	notCounted []string
}

// auditHostile audits path as the CLI does, recovering a panic into the result.
func auditHostile(path string, want *hostileExpect) (res hostileResult) {
	malformed := map[int]string{}
	for _, r := range want.Records {
		if r.Malformed {
			malformed[r.Record] = r.What
		}
	}
	record := 0
	defer func() {
		if v := recover(); v != nil {
			res.panic = fmt.Sprintf("panic at record %d: %v\n%s", record, v, debug.Stack())
		}
	}()
	src, err := capture.Open(path)
	if err != nil {
		res.err = err
		return res
	}
	defer src.Close()
	a := NewAuditor(DefaultConfig())
	var p capture.Packet
	for {
		if err = src.Next(&p); err != nil {
			break
		}
		record++
		if what, ok := malformed[record]; ok {
			// Decoding is per packet: alone, the record must count as malformed.
			one := NewAuditor(DefaultConfig())
			one.Packet(&p)
			if one.Stats().Malformed != 1 {
				res.notCounted = append(res.notCounted, fmt.Sprintf("record %d (%s)", record, what))
			}
		}
		a.Packet(&p)
	}
	res.packets = record
	truncated := errors.Is(err, capture.ErrTruncated)
	if !truncated && !errors.Is(err, io.EOF) {
		res.err = err
		return res
	}
	res.report = a.Report([]string{path}, truncated)
	return res
}

func hostileExpectations(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/hostile/*.expect.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("%d expectations in ../testdata/hostile (run go run ./testdata/gen): %v", len(files), err)
	}
	return files
}

func readHostileExpect(t *testing.T, path string) *hostileExpect {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e hostileExpect
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &e
}

func TestHostileCaptures(t *testing.T) {
	for _, ef := range hostileExpectations(t) {
		path := strings.TrimSuffix(ef, ".expect.json")
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := readHostileExpect(t, ef)
			res := auditHostile(path, want)
			if res.panic != "" {
				t.Fatalf("BUG: auditing %s panics (%s)\n%s", path, want.Note, res.panic)
			}
			if want.Error {
				var fe *capture.FormatError
				switch {
				case res.err == nil:
					t.Fatalf("read whole (%d packets), want it refused: %s", res.packets, want.Note)
				case !errors.As(res.err, &fe):
					t.Fatalf("error %v is not a *capture.FormatError", res.err)
				case fe.Offset != want.Offset && fe.Offset != want.FieldOffset:
					t.Errorf("error at offset %d, want %d (the record or block) or %d (its length field): %v",
						fe.Offset, want.Offset, want.FieldOffset, res.err)
				}
				if !strings.Contains(res.err.Error(), filepath.Base(path)) {
					t.Errorf("error %q does not name the file", res.err)
				}
				if res.packets != want.Packets {
					t.Errorf("%d packets before the error, want %d", res.packets, want.Packets)
				}
				return
			}
			if res.err != nil {
				t.Fatalf("refused: %v (%s)", res.err, want.Note)
			}
			c := &res.report.Capture
			if int(c.Packets) != want.Packets || res.packets != want.Packets {
				t.Errorf("%d packets in the report, %d read; want %d", c.Packets, res.packets, want.Packets)
			}
			if c.Truncated != want.Truncated {
				t.Errorf("truncated %v, want %v", c.Truncated, want.Truncated)
			}
			if int(c.Malformed) < want.MalformedMin {
				t.Errorf("BUG: %d packets counted as malformed, want at least %d", c.Malformed, want.MalformedMin)
			}
			for _, r := range res.notCounted {
				t.Errorf("BUG: %s is not counted as malformed", r)
			}
			checkHostileReport(t, res.report)
		})
	}
}

// Length bounds for the report's strings, by JSON key: names (DNS allows
// 255 bytes), details and evidence, hints (at most maxTargets targets and 8
// names, each a name), anything else.
const (
	maxNameLen     = 255
	maxDetailLen   = 512
	maxHintLen     = 8 << 10
	maxAnyFieldLen = 1 << 10
)

func fieldLimit(key string) int {
	switch key {
	case "host", "name", "answers", "client", "server":
		return maxNameLen
	case "detail", "evidence":
		return maxDetailLen
	case "text":
		return maxHintLen
	}
	return maxAnyFieldLen
}

// checkHostileReport renders r as JSON and bounds every string in it.
func checkHostileReport(t *testing.T, r *Report) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("the report does not render as JSON: %v", err)
	}
	if !json.Valid(b) || !utf8.Valid(b) {
		t.Fatalf("the JSON report is not valid JSON or not UTF-8")
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("the JSON report does not read back: %v", err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var long []string
	var walk func(path, key string, v any)
	walk = func(path, key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, k, v[k])
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), key, x)
			}
		case string:
			if limit := fieldLimit(key); len(v) > limit {
				long = append(long, fmt.Sprintf("%s is %d bytes (limit %d): %.80q...", path, len(v), limit, v))
			}
		}
	}
	walk("report", "", tree)
	for _, l := range long {
		t.Errorf("BUG: unbounded string from the wire: %s", l)
	}
}
