package classify

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/msnaudit/msnaudit/capture"
)

// The generator (testdata/gen) writes, beside each capture, what it put in
// it: every flow with the outcome and feature it must get, and every lookup
// of a Messenger name. These tests hold the auditor to that ground truth.

type expectation struct {
	Flows []struct {
		Transport, Client, Server, Outcome, Feature, Host, Note string
	}
	Lookups []struct {
		Name, RCode, Outcome string
	}
	Packets, Malformed, Fragments int
	Truncated                     bool
}

func auditFile(t *testing.T, path string, cfg Config) (*Report, error) {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	a := NewAuditor(cfg)
	var p capture.Packet
	for {
		err = src.Next(&p)
		if err != nil {
			break
		}
		a.Packet(&p)
	}
	truncated := errors.Is(err, capture.ErrTruncated)
	if !truncated && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return a.Report([]string{path}, truncated), nil
}

func TestGeneratedCapturesMatchTheirGroundTruth(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.expect.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no expectations in ../testdata (run go run ./testdata/gen): %v", err)
	}
	for _, ef := range files {
		capFile := strings.TrimSuffix(ef, ".expect.json")
		t.Run(filepath.Base(capFile), func(t *testing.T) {
			raw, err := os.ReadFile(ef)
			if err != nil {
				t.Fatal(err)
			}
			var want expectation
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.AllFlows = true
			r, err := auditFile(t, capFile, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if int(r.Capture.Packets) != want.Packets || int(r.Capture.Malformed) != want.Malformed || r.Capture.Truncated != want.Truncated {
				t.Errorf("capture: %d packets, %d malformed, truncated %v; want %d, %d, %v",
					r.Capture.Packets, r.Capture.Malformed, r.Capture.Truncated, want.Packets, want.Malformed, want.Truncated)
			}
			if want.Fragments > 0 && int(r.Capture.Fragments) != want.Fragments {
				t.Errorf("%d fragments, want %d", r.Capture.Fragments, want.Fragments)
			}
			byTuple := map[string]*FlowRecord{}
			for i := range r.Flows {
				f := &r.Flows[i]
				if f.Signature == "dns" {
					continue
				}
				byTuple[f.Transport+" "+f.Client+" "+f.Server] = f
			}
			for _, w := range want.Flows {
				key := w.Transport + " " + w.Client + " " + w.Server
				got := byTuple[key]
				if got == nil {
					t.Errorf("%s (%s): no such flow in the report", key, w.Note)
					continue
				}
				delete(byTuple, key)
				if got.Outcome.String() != w.Outcome {
					t.Errorf("%s (%s): outcome %s (%s), want %s", key, w.Note, got.Outcome, got.Detail, w.Outcome)
				}
				switch w.Feature {
				case "":
					if len(got.Features) > 0 || got.Evidence == "range" {
						t.Errorf("%s (%s): attributed to %v by %s, want unattributed", key, w.Note, got.Features, got.Evidence)
					}
				case "possible":
					if got.Evidence != "range" {
						t.Errorf("%s (%s): evidence %q, want range (possible)", key, w.Note, got.Evidence)
					}
				default:
					if !slices.Contains(got.Features, w.Feature) || got.Evidence == "range" {
						t.Errorf("%s (%s): features %v by %q, want %q", key, w.Note, got.Features, got.Evidence, w.Feature)
					}
				}
				if w.Host != "" && got.Host != w.Host {
					t.Errorf("%s (%s): host %q (%s), want %q", key, w.Note, got.Host, got.HostSource, w.Host)
				}
			}
			for key, f := range byTuple {
				t.Errorf("%s: flow not in the ground truth (outcome %s, features %v, evidence %q)", key, f.Outcome, f.Features, f.Evidence)
			}
			lookups := map[string]LookupRecord{}
			for _, lk := range r.Lookups {
				lookups[lk.Name] = lk
			}
			for _, w := range want.Lookups {
				got, ok := lookups[w.Name]
				if !ok {
					t.Errorf("lookup %s: not reported", w.Name)
					continue
				}
				delete(lookups, w.Name)
				if got.Outcome.String() != w.Outcome || w.RCode != "" && got.RCode != w.RCode {
					t.Errorf("lookup %s: %s %s, want %s %s", w.Name, got.Outcome, got.RCode, w.Outcome, w.RCode)
				}
			}
			for name, lk := range lookups {
				t.Errorf("lookup %s (%s) not in the ground truth", name, lk.Outcome)
			}
		})
	}
}

// TestSnapshotLeavesTheAuditUnchanged: a live snapshot judges open flows
// without finishing them, so the final report is the same with or without
// snapshots along the way, and a snapshot at the end equals the report.
func TestSnapshotLeavesTheAuditUnchanged(t *testing.T) {
	read := func(snapshots bool) (last, final *Report) {
		src, err := capture.Open("../testdata/outcomes.pcapng")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		a := NewAuditor(DefaultConfig())
		var p capture.Packet
		for i := 0; src.Next(&p) == nil; i++ {
			a.Packet(&p)
			if snapshots && i%7 == 0 {
				a.Snapshot(nil)
			}
		}
		last = a.Snapshot(nil)
		return last, a.Report(nil, false)
	}
	last, withSnaps := read(true)
	_, without := read(false)
	j := func(r *Report) string { b, _ := json.Marshal(r); return string(b) }
	if j(withSnaps) != j(without) {
		t.Error("snapshots along the way changed the final report")
	}
	if j(last) != j(without) {
		t.Error("a snapshot at the end differs from the final report")
	}
}
