package classify

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify/inspect/inspecttest"
)

// steadyPackets is a small conversation: an MSNP login on 1863, an HTTPS
// flow with SNI, and DNS, with full-size data segments after naming.
func steadyPackets(t testing.TB) [][]byte {
	seg := func(src, dst string, sport, dport uint16, seq uint32, flags string, payload []byte) []byte {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: 1, Window: 65535}
		for _, f := range flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'P':
				tcp.PSH = true
			}
		}
		ip := ip4(src, dst, layers.IPProtocolTCP)
		tcp.SetNetworkLayerForChecksum(ip)
		return serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload))
	}
	data := make([]byte, 1400)
	return [][]byte{
		seg("192.0.2.10", "198.51.100.20", 49200, 1863, 100, "S", nil),
		seg("198.51.100.20", "192.0.2.10", 1863, 49200, 500, "SA", nil),
		seg("192.0.2.10", "198.51.100.20", 49200, 1863, 101, "PA", []byte("VER 1 MSNP18 CVR0\r\n")),
		seg("198.51.100.20", "192.0.2.10", 1863, 49200, 501, "PA", []byte("VER 1 MSNP18\r\n")),
		seg("192.0.2.10", "203.0.113.80", 49201, 443, 100, "S", nil),
		seg("203.0.113.80", "192.0.2.10", 443, 49201, 900, "SA", nil),
		seg("192.0.2.10", "203.0.113.80", 49201, 443, 101, "PA", []byte{0x17, 3, 3, 0, 4, 1, 2, 3, 4}),
		seg("203.0.113.80", "192.0.2.10", 443, 49201, 901, "A", data),
		seg("198.51.100.20", "192.0.2.10", 1863, 49200, 515, "A", data),
	}
}

// TestPacketDoesNotAllocate proves the hot path (decode, flow lookup,
// counters, inspection of named flows) allocates nothing per packet once
// the flows exist.
func TestPacketDoesNotAllocate(t *testing.T) {
	pkts := steadyPackets(t)
	a := NewAuditor(DefaultConfig())
	p := capture.Packet{Link: capture.LinkEthernet}
	ts := int64(1_700_000_000_000_000_000)
	feed := func(b []byte) {
		ts += 1000
		p.Data, p.Length, p.Time = b, len(b), ts
		a.Packet(&p)
	}
	for _, b := range pkts {
		feed(b)
	}
	for i, b := range pkts[2:] {
		if n := testing.AllocsPerRun(200, func() { feed(b) }); n != 0 {
			t.Errorf("packet %d: %v allocations per packet, want 0", i+2, n)
		}
	}
}

func BenchmarkPacket(b *testing.B) {
	pkts := steadyPackets(b)
	a := NewAuditor(DefaultConfig())
	p := capture.Packet{Link: capture.LinkEthernet}
	var bytes int64
	for _, d := range pkts {
		bytes += int64(len(d))
	}
	b.SetBytes(bytes / int64(len(pkts)))
	b.ReportAllocs()
	ts := int64(1_700_000_000_000_000_000)
	for i := 0; b.Loop(); i++ {
		d := pkts[i%len(pkts)]
		ts += 1000
		p.Data, p.Length, p.Time = d, len(d), ts
		a.Packet(&p)
	}
}

func BenchmarkDecode(b *testing.B) {
	pkt := steadyPackets(b)[7]
	var d decoded
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		decode(capture.LinkEthernet, pkt, &d)
	}
}

// FuzzAudit feeds arbitrary packets of every link type through the whole
// auditor and renders the report: nothing may panic.
func FuzzAudit(f *testing.F) {
	for _, p := range steadyPackets(f) {
		f.Add(uint8(0) /* Ethernet, below */, p[:len(p)/2], p)
	}
	// Consecutive packets of the project's test captures as seeds too.
	files, _ := filepath.Glob("../testdata/*.pcap*")
	for _, file := range files {
		src, err := capture.Open(file)
		if err != nil {
			continue
		}
		var p capture.Packet
		var prev []byte
		for i := 0; i < 40 && src.Next(&p) == nil; i++ {
			if p.Link == capture.LinkEthernet && prev != nil {
				f.Add(uint8(0) /* Ethernet, below */, prev, bytes.Clone(p.Data))
			}
			prev = bytes.Clone(p.Data)
		}
		src.Close()
	}
	f.Fuzz(func(t *testing.T, link uint8, p1, p2 []byte) {
		// Fed one by one, and in one batch on two goroutines: no panic, and
		// the same report.
		lt := []capture.LinkType{capture.LinkEthernet, capture.LinkRaw, capture.LinkLinuxSLL, capture.LinkLinuxSLL2, capture.LinkNull}[int(link)%5]
		var pkts []capture.Packet
		for i, d := range [][]byte{p1, p2, p1, p2} {
			pkts = append(pkts, capture.Packet{Data: d, Length: len(d), Time: int64(i) * 1e9, Link: lt})
		}
		a := NewAuditor(DefaultConfig())
		for i := range pkts {
			a.Packet(&pkts[i])
		}
		cfg := DefaultConfig()
		cfg.Workers = 2
		b := NewAuditor(cfg)
		b.Batch(pkts)
		if x, y := reportJSON(t, a, false), reportJSON(t, b, false); x != y {
			t.Errorf("Packet and Batch disagree:\n%s\n%s", x, y)
		}
	})
}

// TestReassemblyMemoryIsBounded: many flows that each send the first part
// of a ClientHello and never the rest hold no more than the budget.
func TestReassemblyMemoryIsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReassembly = 64 << 10
	a := NewAuditor(cfg)
	hello := inspecttest.ClientHello(t, "login.live.com")
	hello = hello[:60] // the start of a ClientHello, before the SNI: needs more
	if len(hello) < 60 {
		t.Fatalf("ClientHello of %d bytes", 2*len(hello))
	}
	p := capture.Packet{Link: capture.LinkEthernet}
	for i := range 5000 {
		ip := ip4("192.0.2.10", "203.0.113.80", layers.IPProtocolTCP)
		tcp := &layers.TCP{SrcPort: layers.TCPPort(10000 + i), DstPort: 443, Seq: 7, ACK: true, PSH: true, Window: 1}
		tcp.SetNetworkLayerForChecksum(ip)
		b := serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(hello))
		p.Data, p.Length, p.Time = b, len(b), int64(i)
		a.Packet(&p)
		if a.reassemblyBytes() > cfg.MaxReassembly {
			t.Fatalf("after %d flows the reassembly buffers hold %d bytes, over the %d budget", i+1, a.reassemblyBytes(), cfg.MaxReassembly)
		}
	}
	if a.Stats().ReassemblyDropped == 0 {
		t.Errorf("no flow's reassembly was given up, yet 5000 × %d bytes exceed the 64 KiB budget", len(hello))
	}
	a.Report(nil, false)
	if a.reassemblyBytes() != 0 {
		t.Errorf("%d reassembly bytes still held after every flow finished", a.reassemblyBytes())
	}
}
