package classify

import (
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
)

// TestTCPOutcomes judges hand-built flow states: who closed, when, and what
// each side sent decide the outcome.
func TestTCPOutcomes(t *testing.T) {
	s := int64(time.Second)
	a := NewAuditor(DefaultConfig())
	established := func() *flow {
		f := &flow{proto: protoTCP, synAck: true, first: 1 * s, last: 2 * s}
		f.c2s.syns, f.c2s.firstSYN, f.c2s.lastSYN = 1, 1*s, 1*s
		return f
	}
	withData := func(f *flow) *flow {
		f.c2s.payload, f.c2s.firstPayload = 200, 1*s+100
		f.s2c.payload, f.s2c.firstPayload = 900, 1*s+200
		return f
	}
	tests := []struct {
		name   string
		f      func() *flow
		end    int64
		want   Outcome
		detail string
	}{
		{"syn only, long ago", func() *flow {
			f := &flow{proto: protoTCP, first: 1 * s, last: 8 * s}
			f.c2s.syns, f.c2s.firstSYN, f.c2s.lastSYN = 4, 1*s, 8*s
			return f
		}, 30 * s, Dropped, "4 SYNs over 7.0s"},
		{"syn only, at the end", func() *flow {
			f := &flow{proto: protoTCP, first: 28 * s, last: 28 * s}
			f.c2s.syns, f.c2s.firstSYN, f.c2s.lastSYN = 1, 28*s, 28*s
			return f
		}, 30 * s, Incomplete, "before the capture ended"},
		{"syn answered by rst", func() *flow {
			f := &flow{proto: protoTCP, first: 1 * s, last: 1 * s}
			f.c2s.syns, f.c2s.firstSYN, f.c2s.lastSYN = 1, 1*s, 1*s
			f.s2c.rstAt = 1*s + 5e6
			return f
		}, 30 * s, Refused, "SYN answered by RST"},
		{"data then server rst", func() *flow { f := withData(established()); f.s2c.rstAt = 2 * s; return f }, 30 * s, Reset, "server side"},
		{"data then client rst (abortive close)", func() *flow { f := withData(established()); f.c2s.rstAt = 2 * s; return f }, 30 * s, OK, ""},
		{"fin then rst", func() *flow { f := withData(established()); f.c2s.finAt, f.s2c.rstAt = 2*s, 2*s+1; return f }, 30 * s, OK, ""},
		{"hello then server rst", func() *flow {
			f := established()
			f.c2s.payload, f.c2s.firstPayload, f.s2c.rstAt = 300, 1*s+100, 1*s+200
			return f
		}, 30 * s, ResetAfterHello, "RST from the server side"},
		{"hello then server fin", func() *flow {
			f := established()
			f.c2s.payload, f.c2s.firstPayload, f.s2c.finAt = 300, 1*s+100, 1*s+200
			return f
		}, 30 * s, ResetAfterHello, "closed by the server side"},
		{"hello, silence, client gives up", func() *flow {
			f := established()
			f.c2s.payload, f.c2s.firstPayload, f.c2s.finAt = 300, 1*s, 21*s
			return f
		}, 30 * s, Dropped, "the client gave up 20.0s"},
		{"hello at the end", func() *flow {
			f := established()
			f.c2s.payload, f.c2s.firstPayload = 300, 29*s
			return f
		}, 30 * s, Incomplete, "the capture ended"},
		{"proxy 407", func() *flow {
			f := withData(established())
			f.httpStatus, f.connect, f.host = 407, true, "messenger.hotmail.com"
			return f
		}, 30 * s, ProxyAuth, "CONNECT messenger.hotmail.com"},
		{"http 403", func() *flow { f := withData(established()); f.httpStatus = 403; return f }, 30 * s, HTTPBlocked, "HTTP 403"},
		{"http 401 is an auth challenge, not a block", func() *flow { f := withData(established()); f.httpStatus = 401; return f }, 30 * s, OK, ""},
		{"icmp before any answer", func() *flow {
			f := &flow{proto: protoTCP, first: 1 * s, last: 1 * s, icmp: true, icmpTyp: 3, icmpCod: 13}
			f.c2s.syns, f.c2s.firstSYN, f.c2s.lastSYN = 1, 1*s, 1*s
			return f
		}, 30 * s, ICMPUnreachable, "code 13 (communication administratively prohibited)"},
		{"mid-stream with server data", func() *flow { f := withData(&flow{proto: protoTCP, midstream: true}); return f }, 30 * s, OK, ""},
		{"mid-stream, client only", func() *flow { f := &flow{proto: protoTCP, midstream: true}; f.c2s.payload = 10; return f }, 30 * s, Incomplete, "began after"},
	}
	for _, tt := range tests {
		got, detail := a.outcome(tt.f(), tt.end)
		if got != tt.want || !strings.Contains(detail, tt.detail) {
			t.Errorf("%s: %s (%q), want %s (%q)", tt.name, got, detail, tt.want, tt.detail)
		}
	}
}

func TestUDPOutcomes(t *testing.T) {
	s := int64(time.Second)
	a := NewAuditor(DefaultConfig())
	answered := &flow{proto: protoUDP, first: s, last: 2 * s}
	answered.c2s.packets, answered.s2c.packets = 1, 1
	unanswered := &flow{proto: protoUDP, first: s, last: 3 * s}
	unanswered.c2s.packets = 3
	for _, tt := range []struct {
		f    *flow
		end  int64
		want Outcome
	}{{answered, 30 * s, OK}, {unanswered, 30 * s, Dropped}, {unanswered, 4 * s, Incomplete}} {
		if got, d := a.outcome(tt.f, tt.end); got != tt.want {
			t.Errorf("udp: %s (%s), want %s", got, d, tt.want)
		}
	}
}

// TestUDPReplyFirstIsNotAFailure: when the capture begins between a request
// and its reply, the reply's sender is the server, and the flow is answered.
func TestUDPReplyFirstIsNotAFailure(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	ip := ip4("198.51.100.50", "192.0.2.88", layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 7001, DstPort: 65463}
	udp.SetNetworkLayerForChecksum(ip)
	reply := serialize(t, eth(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(make([]byte, 20)))
	a.Packet(&capture.Packet{Data: reply, Length: len(reply), Link: capture.LinkEthernet, Time: 1e9})
	a.Advance(60e9)
	r := a.Report(nil, false)
	if len(r.Flows) != 1 || r.Flows[0].Server != "198.51.100.50:7001" || r.Flows[0].Outcome != OK {
		t.Fatalf("flows %+v", r.Flows)
	}
}

// TestListingKeepsFailedFlowsPastTheLimit: when more flows finish than the
// report lists, failed Messenger flows displace ok ones.
func TestListingKeepsFailedFlowsPastTheLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxListed = 4
	a := NewAuditor(cfg)
	send := func(ts int64, dport uint16, sport uint16, flags string) {
		ip := ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP)
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: flags == "S", RST: flags == "R", ACK: flags == "R", Window: 1}
		if flags == "R" {
			ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		}
		tcp.SetNetworkLayerForChecksum(ip)
		b := serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp)
		a.Packet(&capture.Packet{Data: b, Length: len(b), Link: capture.LinkEthernet, Time: ts})
	}
	// Six possible (range) flows to high ports first, then three refused 1863 flows.
	for i := range 6 {
		send(int64(i)*1e9, 20000, uint16(40000+i), "S")
	}
	for i := range 3 {
		send(int64(10+i)*1e9, 1863, uint16(41000+i), "S")
		send(int64(10+i)*1e9+1e6, 1863, uint16(41000+i), "R")
	}
	r := a.Report(nil, false)
	refused := 0
	for _, f := range r.Flows {
		if f.Outcome == Refused {
			refused++
		}
	}
	if len(r.Flows) != 4 || refused != 3 || r.Capture.FlowsOmitted != 5 {
		t.Errorf("%d listed, %d refused, %d omitted; want 4, 3 and 5", len(r.Flows), refused, r.Capture.FlowsOmitted)
	}
}
