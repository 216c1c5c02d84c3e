package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTshark cross-checks our readers with tshark on files written by the
// test helpers: packet times, lengths and interface ids must agree.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tshark is required in CI: %v", err)
		}
		t.Skipf("tshark not installed (%v); install the tshark package to run this cross-check", err)
	}
	dir := t.TempDir()

	// A pcapng with several interfaces, link types and time resolutions,
	// in big-endian order, followed by a little-endian section.
	ng := newNgFile(true)
	ng.idb(1, 0)                                          // Ethernet, µs
	ng.idb(101, 65535, ng.tsresol(9))                     // raw IP, ns
	ng.idb(113, 0, ng.tsresol(0x80|10))                   // Linux SLL, 2^-10 s
	ng.idb(228, 1500, ng.tsresol(3), ng.tsoffset(-86400)) // IPv4, ms, a day earlier
	ng.idb(276, 0, ng.tsresol(0x80|9), ng.tsresol(6))     // SLL2, 2^-9 s (the first if_tsresol counts, as in Wireshark)
	for i := range 40 {
		d := payload(i, 20+i*37%1400)
		switch i % 5 {
		case 0:
			ng.epb(0, t0*1e6+uint64(i)*123457, d, len(d)+i)
		case 1:
			ng.epb(1, t0*1e9+uint64(i)*987654321, d, len(d))
		case 2:
			ng.epb(2, (t0+uint64(i))<<10|uint64(2*i), d, len(d)+3)
		case 3:
			ng.pb(3, t0*1e3+uint64(i)*17, d, len(d))
		case 4:
			ng.epb(4, (t0+uint64(i))<<9|uint64(i), d, len(d))
		}
		if i == 20 {
			ng.nrb().isb(0)
		}
	}
	ng.shb(false).idb(1, 0, ng.tsresol(9))
	ng.epb(0, t0*1e9+424242, payload(99, 100), 100)

	pc := newPcapFile(true, true, 65535, 1)
	for i := range 25 {
		d := payload(i, 14+i*61%1500)
		pc.add(t0+uint32(i), uint32(i)*39999999, d, len(d)+i%3)
	}

	for name, b := range map[string][]byte{"multi.pcapng": ng.buf, "be-ns.pcap": pc.buf} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, tshark, "-n", "-r", path, "-T", "fields",
				"-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.interface_id")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, stderr.String())
			}
			var theirs []string
			for _, line := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
				f := strings.Split(strings.TrimRight(line, "\r"), "\t")
				if len(f) != 4 {
					t.Fatalf("tshark line %q", line)
				}
				ns, err := parseEpoch(f[0])
				if err != nil {
					t.Fatal(err)
				}
				iface := f[3]
				if iface == "" {
					iface = "0"
				}
				theirs = append(theirs, fmt.Sprintf("%d %s %s %s", ns, f[1], f[2], iface))
			}

			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			pkts, err := drain(t, s)
			if err != io.EOF {
				t.Fatal(err)
			}
			var ours []string
			for _, p := range pkts {
				ours = append(ours, fmt.Sprintf("%d %d %d %d", p.Time, p.Length, len(p.Data), p.Iface))
			}
			if len(ours) != len(theirs) {
				t.Fatalf("we read %d packets, tshark %d", len(ours), len(theirs))
			}
			for i := range ours {
				if ours[i] != theirs[i] {
					t.Errorf("packet %d: ours %q, tshark %q (time len caplen iface)", i+1, ours[i], theirs[i])
				}
			}
		})
	}
}

// parseEpoch parses tshark's "seconds.fraction" into Unix nanoseconds.
func parseEpoch(s string) (int64, error) {
	sec, frac, _ := strings.Cut(s, ".")
	if len(frac) > 9 {
		return 0, errors.New("more than 9 fraction digits in " + s)
	}
	frac += strings.Repeat("0", 9-len(frac))
	a, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, err
	}
	b, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return a*1e9 + b, nil
}
