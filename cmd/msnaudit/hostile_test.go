package main

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/classify"
	"github.com/msnaudit/msnaudit/classify/inspect/inspecttest"
)

// writePcap writes Ethernet packets to a classic pcap file.
func writePcap(t *testing.T, path string, pkts [][]byte) {
	t.Helper()
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	out := hdr
	for i, p := range pkts {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(1768471200+i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(p)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(p)))
		out = append(append(out, rec...), p...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func tcpPacket(t *testing.T, src, dst string, sport, dport uint16, seq uint32, syn, ack, rst bool, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: 1, SYN: syn, ACK: ack, RST: rst, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestHostileSNINeverReachesTheTerminalRaw: an SNI carrying a terminal
// escape sequence is escaped in every human format, and JSON escapes it.
func TestHostileSNINeverReachesTheTerminalRaw(t *testing.T) {
	const evil = "\x1b]0;pwned\x07.contacts.msn.com"
	hello := inspecttest.ClientHello(t, evil)
	if !strings.Contains(string(hello), "\x1b]0;pwned") {
		t.Skip("crypto/tls refused to put the hostile name in the SNI")
	}
	c, s := "192.0.2.10", "198.51.100.30"
	path := filepath.Join(t.TempDir(), "evil.pcap")
	writePcap(t, path, [][]byte{
		tcpPacket(t, c, s, 49200, 443, 100, true, false, false, nil),
		tcpPacket(t, s, c, 443, 49200, 500, true, true, false, nil),
		tcpPacket(t, c, s, 49200, 443, 101, false, true, false, hello),
		tcpPacket(t, s, c, 443, 49200, 501, false, true, true, nil),
	})
	for _, format := range []string{"table", "markdown", "csv", "json"} {
		code, out, errOut := runCLI(t, "", "audit", "--format", format, "--color", "always", path)
		if code != exitBlocked {
			t.Fatalf("%s: exit %d (%s)", format, code, errOut)
		}
		if strings.Contains(out, "\x1b]") || strings.Contains(out, "\x07") {
			t.Errorf("%s: the raw escape sequence reached the output:\n%q", format, out)
		}
		if format == "json" {
			var r classify.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Flows) != 1 || r.Flows[0].Host != evil || r.Flows[0].Outcome != classify.ResetAfterHello {
				t.Errorf("json flows: %+v", r.Flows)
			}
		} else if format != "markdown" && !strings.Contains(out, `\x1b]0;pwned\x07`) || !strings.Contains(out, "pwned") {
			t.Errorf("%s: the escaped name is missing:\n%s", format, out)
		}
	}
}

func TestJSONEscapesC1AndBidi(t *testing.T) {
	in := []byte(`{"host":"a` + "\u009b31m\u202eb" + `ü"}`)
	got := string(indentJSON(nil, in))
	want := "{\n  \"host\": \"a\\u009b31m\\u202eb" + "ü" + "\"\n}"
	if got != want {
		t.Errorf("indentJSON = %q, want %q", got, want)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(got), &v); err != nil || v["host"] != "a\u009b31m\u202ebü" {
		t.Errorf("escaped JSON reads back as %q (%v)", v["host"], err)
	}
}
