package classify

import (
	"encoding/binary"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
)

// withMemoryLimit runs f under the soft memory limit the CLI sets by
// default (--memory-limit), as msnaudit would run.
func withMemoryLimit(f func()) {
	old := debug.SetMemoryLimit(80 << 20)
	defer debug.SetMemoryLimit(old)
	f()
}

// peakRSS is the process's peak resident set (VmHWM) in MiB, 0 if unknown.
// Run one flood benchmark per process for it to be that benchmark's.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// flood feeds n packets made from template, with the 32-bit value at
// offset off (an address or ports) counting up, and returns the peak heap
// in use, sampled every 64k packets.
func flood(tb testing.TB, a *Auditor, template []byte, off, n int) (peak uint64) {
	pkt := append([]byte(nil), template...)
	p := capture.Packet{Link: capture.LinkEthernet, Data: pkt, Length: len(pkt)}
	var ms runtime.MemStats
	for i := range n {
		binary.BigEndian.PutUint32(pkt[off:], uint32(i)*7919+1)
		p.Time = int64(i) * 1000 // 1M packets a second
		a.Packet(&p)
		if i&0xffff == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	return peak
}

// BenchmarkSYNFlood: distinct flows (a SYN flood from spoofed sources) keep
// memory at the flow table's bound, whatever their number; -benchtime=Nx
// sets how many (10000000x for the 10-million-flow figure).
func BenchmarkSYNFlood(b *testing.B) {
	ip := ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP)
	tcp := tcpSYN(40000, 1863)
	tcp.SetNetworkLayerForChecksum(ip)
	syn := serialize(b, eth(layers.EthernetTypeIPv4), ip, tcp)
	a := NewAuditor(DefaultConfig())
	b.ReportAllocs()
	var peak uint64
	withMemoryLimit(func() { peak = flood(b, a, syn, 14+12, b.N) }) // the source address counts up
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
	b.ReportMetric(float64(a.Stats().Evicted), "evicted")
}

// BenchmarkDNSAnswerFlood: answers mapping ever new addresses to a
// Messenger name keep the name cache at its bound.
func BenchmarkDNSAnswerFlood(b *testing.B) {
	dns := &layers.DNS{ID: 1, QR: true, ResponseCode: layers.DNSResponseCodeNoErr,
		Questions: []layers.DNSQuestion{{Name: []byte("messenger.hotmail.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{{Name: []byte("messenger.hotmail.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN,
			TTL: 60, IP: []byte{198, 51, 100, 1}}}}
	ip := ip4("192.0.2.53", "192.0.2.10", layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 53, DstPort: 50000}
	udp.SetNetworkLayerForChecksum(ip)
	pkt := serialize(b, eth(layers.EthernetTypeIPv4), ip, udp, dns)
	off := len(pkt) - 4 // the answer's address
	a := NewAuditor(DefaultConfig())
	b.ReportAllocs()
	var peak uint64
	withMemoryLimit(func() { peak = flood(b, a, pkt, off, b.N) })
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
	if len(a.dns) > a.cfg.MaxNames {
		b.Fatalf("%d names cached, over the %d bound", len(a.dns), a.cfg.MaxNames)
	}
}
