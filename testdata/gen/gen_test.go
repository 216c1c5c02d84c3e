package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readTree returns every regular file under dir by slash-separated relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := writeFiles(a, generate()); err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(b, generate()); err != nil {
		t.Fatal(err)
	}
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("first run wrote %d files, second %d", len(ta), len(tb))
	}
	for name, data := range ta {
		if !bytes.Equal(data, tb[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// TestCommitted fails when a checked-in capture or expectation is not what the generator writes.
func TestCommitted(t *testing.T) {
	for _, f := range generate() {
		got, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(f.name)))
		switch {
		case err != nil:
			t.Errorf("testdata/%s: %v; run go run ./testdata/gen", f.name, err)
		case !bytes.Equal(got, f.data):
			t.Errorf("testdata/%s is stale; run go run ./testdata/gen", f.name)
		}
	}
}

var (
	outcomeWords = []string{ok, refused, dropped, reset, resetAfterHello, icmpUnreachable, proxyAuth, httpBlocked, incomplete}
	lookupWords  = []string{ok, dnsFailed, dnsSinkhole}
	featureNames = []string{signIn, netDetect, voiceVideo, "Audio (legacy)", webcam, fileTransfer, whiteboard,
		remoteAssist, liveCall, games, possible, background}
)

// goodCaptures are the generated captures with a full expectation.
func goodCaptures(files []file) map[string]Expectation {
	out := map[string]Expectation{}
	for _, f := range files {
		if f.packets < 0 || strings.HasPrefix(f.name, "bad/") {
			continue
		}
		for _, g := range files {
			if g.name == f.name+".expect.json" {
				var e Expectation
				if err := json.Unmarshal(g.data, &e); err != nil {
					panic(err)
				}
				out[f.name] = e
			}
		}
	}
	return out
}

// TestExpectations checks the ground truth is well formed.
func TestExpectations(t *testing.T) {
	files := generate()
	good := goodCaptures(files)
	if len(good) != 22 {
		t.Errorf("%d good captures, want 22", len(good))
	}
	for name, e := range good {
		if e.Packets == 0 || e.Malformed != 0 || e.Truncated || len(e.Flows) == 0 {
			t.Errorf("%s: packets %d malformed %d truncated %v flows %d", name, e.Packets, e.Malformed, e.Truncated, len(e.Flows))
		}
		for _, f := range e.Flows {
			if !slices.Contains(outcomeWords, f.Outcome) || !slices.Contains(featureNames, f.Feature) {
				t.Errorf("%s: flow %s→%s: outcome %q feature %q", name, f.Client, f.Server, f.Outcome, f.Feature)
			}
			for _, ep := range []string{f.Client, f.Server} {
				if _, _, err := net.SplitHostPort(ep); err != nil {
					t.Errorf("%s: endpoint %q: %v", name, ep, err)
				}
			}
			if f.Transport != "tcp" && f.Transport != "udp" {
				t.Errorf("%s: transport %q", name, f.Transport)
			}
		}
		for _, l := range e.Lookups {
			if !slices.Contains(lookupWords, l.Outcome) {
				t.Errorf("%s: lookup %s outcome %q", name, l.Name, l.Outcome)
			}
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f.name, "bad/") && strings.HasSuffix(f.name, ".expect.json") {
			var e badExpectation
			if err := json.Unmarshal(f.data, &e); err != nil {
				t.Errorf("%s: %v", f.name, err)
			}
		}
	}
}

// TestTshark has Wireshark read every good capture: the packet count, the
// names that travel in SNI, HTTP Host and DNS, and no malformed packets.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed, and CI=true requires this test to run")
		}
		t.Skip("tshark is not installed (apt-get install tshark); skipping the Wireshark cross-check")
	}
	dir := t.TempDir()
	files := generate()
	if err := writeFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	good := goodCaptures(files)
	names := make([]string, 0, len(good))
	for n := range good {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		e := good[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, name)
			run := func(args ...string) []string {
				t.Helper()
				args = append([]string{"-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", path}, args...)
				cmd := exec.Command(tshark, args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
				var rows []string
				for _, l := range strings.Split(string(out), "\n") {
					if l != "" {
						rows = append(rows, l)
					}
				}
				return rows
			}

			// Columns 5-7 carry names; 8-10 tell fragments (first value: the outer header).
			rows := run("-T", "fields", "-e", "frame.number", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
				"-e", "udp.srcport", "-e", "tls.handshake.extensions_server_name", "-e", "http.host", "-e", "dns.qry.name",
				"-e", "ip.flags.mf", "-e", "ip.frag_offset", "-e", "ipv6.fraghdr.ident")
			if len(rows) != e.Packets {
				t.Errorf("tshark reads %d packets, expectation says %d", len(rows), e.Packets)
			}
			seen := map[string]bool{}
			frags := 0
			for _, r := range rows {
				cols := strings.Split(r, "\t")
				if len(cols) != 11 {
					t.Fatalf("tshark row %q has %d columns, want 11", r, len(cols))
				}
				for _, col := range cols[5:8] {
					for _, v := range strings.Split(col, ",") {
						if h, _, err := net.SplitHostPort(v); err == nil {
							v = h
						}
						seen[strings.ToLower(v)] = true
					}
				}
				first := func(col string) string { v, _, _ := strings.Cut(col, ","); return v }
				if first(cols[8]) == "1" || (first(cols[9]) != "" && first(cols[9]) != "0") || cols[10] != "" {
					frags++
				}
			}
			if frags != e.Fragments {
				t.Errorf("tshark sees %d IP fragments, expectation says %d", frags, e.Fragments)
			}
			for _, f := range e.Flows {
				if f.Host != "" && !seen[f.Host] {
					t.Errorf("flow %s→%s: host %s is not in any SNI, HTTP Host or DNS query", f.Client, f.Server, f.Host)
				}
			}
			for _, l := range e.Lookups {
				if !seen[l.Name] {
					t.Errorf("lookup %s is not in any DNS query", l.Name)
				}
			}

			if bad := run("-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number"); len(bad) > 0 {
				t.Errorf("tshark finds malformed packets: frames %s", strings.Join(bad, ", "))
			}
			bad := run("-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
				"-Y", "ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0 || "+
					"icmp.checksum.status == 0 || icmpv6.checksum.status == 0", "-T", "fields", "-e", "frame.number")
			if len(bad) > 0 {
				t.Errorf("tshark finds bad checksums: frames %s", strings.Join(bad, ", "))
			}
		})
	}
}
