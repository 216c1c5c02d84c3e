package classify

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/msnaudit/msnaudit/capture"
)

// needTshark skips without tshark, except in CI, which installs it.
func needTshark(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed, and CI must run this cross-check (.ci/run installs it)")
		}
		t.Skip("tshark is not installed: skipping the cross-check of our decoder against Wireshark's")
	}
	return path
}

// TestDecoderAgreesWithTshark decodes every generated capture with our
// decoder and with Wireshark's, and compares addresses, ports and TCP flags
// packet by packet, so the generator and our reader cannot agree on a mistake.
func TestDecoderAgreesWithTshark(t *testing.T) {
	tshark := needTshark(t)
	files, _ := filepath.Glob("../testdata/*.pcap*")
	if len(files) == 0 {
		t.Fatal("no captures in ../testdata")
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".json") {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			out, err := exec.Command(tshark, "-n", "-r", file, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
				"-T", "fields", "-E", "occurrence=f", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
				"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.flags", "-e", "icmp.type", "-e", "icmpv6.type").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			src, err := capture.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var p capture.Packet
			var d decoded
			n := 0
			for ; ; n++ {
				if err := src.Next(&p); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				if n >= len(lines) {
					t.Fatalf("we read more packets than tshark's %d", len(lines))
				}
				f := strings.Split(lines[n], "\t")
				if decode(p.Link, p.Data, &d) != decOK {
					t.Errorf("packet %d: we could not decode what tshark reads as %q", n+1, lines[n])
					continue
				}
				if f[9] != "" || f[10] != "" {
					continue // ICMP: tshark's first address may be the quoted one
				}
				wantSrc, wantDst := f[0], f[1]
				if wantSrc == "" {
					wantSrc, wantDst = f[2], f[3]
				}
				if got := d.src.addr().String(); got != canon(wantSrc) {
					t.Errorf("packet %d: source %s, tshark %s", n+1, got, wantSrc)
				}
				if got := d.dst.addr().String(); got != canon(wantDst) {
					t.Errorf("packet %d: destination %s, tshark %s", n+1, got, wantDst)
				}
				sp, dp := f[4], f[5]
				if d.proto == protoUDP {
					sp, dp = f[6], f[7]
				}
				if d.laterFrag {
					continue
				}
				if sp != strconv.Itoa(int(d.src.port)) || dp != strconv.Itoa(int(d.dst.port)) {
					t.Errorf("packet %d: ports %d -> %d, tshark %s -> %s", n+1, d.src.port, d.dst.port, sp, dp)
				}
				if d.proto == protoTCP {
					flags, _ := strconv.ParseUint(strings.TrimPrefix(f[8], "0x"), 16, 16)
					if uint8(flags) != d.tcpFlags {
						t.Errorf("packet %d: TCP flags %#x, tshark %s", n+1, d.tcpFlags, f[8])
					}
				}
			}
			if n != len(lines) {
				t.Errorf("we read %d packets, tshark %d", n, len(lines))
			}
		})
	}
}

func canon(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return a.Unmap().String()
}
