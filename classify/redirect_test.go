package classify

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
)

// TestRedirectToAHostName: a revival server's MSNP redirect names a host,
// not an address ("XFR 10 SB sb1.escargot.example:1864 CKI ..."). The DNS
// answer for that name, though the rule table does not know it, names the
// flow that follows to its address on that port: it is attributed by
// signalling, with the name. The same address on another port only has the
// name (from DNS); a name answered before the redirect is not remembered.
func TestRedirectToAHostName(t *testing.T) {
	tcp := func(src, dst string, sport, dport uint16, flags string, payload string) []byte {
		l := tcpSeg(sport, dport, flags)
		if l.SYN {
			l.Seq = 999
		}
		ip := ip4(src, dst, layers.IPProtocolTCP)
		l.SetNetworkLayerForChecksum(ip)
		return serialize(t, eth(layers.EthernetTypeIPv4), ip, l, gopacket.Payload(payload))
	}
	answer := func(name string, a []byte) []byte {
		dns := &layers.DNS{ID: 7, QR: true, ResponseCode: layers.DNSResponseCodeNoErr,
			Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
			Answers:   []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: a}}}
		ip := ip4("192.0.2.53", "192.0.2.10", layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 53, DstPort: 50000}
		udp.SetNetworkLayerForChecksum(ip)
		return serialize(t, eth(layers.EthernetTypeIPv4), ip, udp, dns)
	}
	const cli, ns, sb, early = "192.0.2.10", "198.51.100.20", "203.0.113.77", "203.0.113.78"
	frames := [][]byte{
		answer("early.escargot.example", []byte{203, 0, 113, 78}), // before any redirect names it
		tcp(cli, ns, 49300, 1863, "S", ""),
		tcp(ns, cli, 1863, 49300, "SA", ""),
		tcp(cli, ns, 49300, 1863, "PA", "VER 1 MSNP18 CVR0\r\n"),
		tcp(ns, cli, 1863, 49300, "PA", "XFR 10 SB SB1.Escargot.example:1864 CKI 17262740.1050826919\r\n"+
			"XFR 11 SB early.escargot.example:1864 CKI 1.2\r\n"),
		answer("sb1.escargot.example", []byte{203, 0, 113, 77}),
		tcp(cli, sb, 49301, 1864, "S", ""),
		tcp(sb, cli, 1864, 49301, "SA", ""),
		tcp(cli, sb, 49302, 1865, "S", ""),
		tcp(sb, cli, 1865, 49302, "SA", ""),
		tcp(cli, early, 49303, 1864, "S", ""),
		tcp(early, cli, 1864, 49303, "SA", ""),
	}
	for _, workers := range []int{1, 2} {
		cfg := DefaultConfig()
		cfg.Workers, cfg.AllFlows = workers, true
		a := NewAuditor(cfg)
		var pkts []capture.Packet
		for i, f := range frames {
			pkts = append(pkts, capture.Packet{Link: capture.LinkEthernet, Data: f, Length: len(f), Time: int64(1_700_000_000+i) * int64(time.Second)})
		}
		a.Batch(pkts)
		flows := map[string]FlowRecord{}
		for _, f := range a.Report(nil, false).Flows {
			flows[f.Server] = f
		}
		if f := flows[sb+":1864"]; f.Evidence != "signaling" || f.Host != "sb1.escargot.example" || f.HostSource != "msnp" ||
			len(f.Features) == 0 || f.Features[0] != "Sign in to the Messenger service" {
			t.Errorf("%d workers: the redirected flow: %+v", workers, f)
		}
		if f := flows[sb+":1865"]; f.Evidence == "signaling" || f.Host != "sb1.escargot.example" || f.HostSource != "dns" {
			t.Errorf("%d workers: another port of the address: %+v, want its DNS name, not signalling", workers, f)
		}
		if f := flows[early+":1864"]; f.Evidence == "signaling" || f.Host != "" {
			t.Errorf("%d workers: a name answered before the redirect: %+v, want no name, no signalling", workers, f)
		}
	}
}
