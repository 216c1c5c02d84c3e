package classify

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify/inspect/inspecttest"
)

const sec = int64(time.Second)

// feed gives the auditor one Ethernet frame at time ts.
func feed(t *testing.T, a *Auditor, ts int64, ls ...gopacket.SerializableLayer) {
	t.Helper()
	b := serialize(t, ls...)
	a.Packet(&capture.Packet{Data: b, Length: len(b), Time: ts, Link: capture.LinkEthernet})
}

func flowOf(t *testing.T, r *Report, server string) FlowRecord {
	t.Helper()
	for _, f := range r.Flows {
		if f.Server == server {
			return f
		}
	}
	t.Fatalf("no flow to %s in %+v", server, r.Flows)
	return FlowRecord{}
}

var (
	kCli = netip.MustParseAddrPort("192.0.2.10:50000")
	kSrv = netip.MustParseAddrPort("198.51.100.20:1863")
)

func synTo(t *testing.T, a *Auditor, ts int64) {
	feed(t, a, ts, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcpSYN(50000, 1863))
}

// TestKernelDropNamesTheReason: SYNs this host's netfilter dropped are a
// kernel_drop with the reason, not a "dropped" somewhere on the path.
func TestKernelDropNamesTheReason(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	synTo(t, a, 1*sec)
	a.KernelDrop(kCli, kSrv, protoTCP, 1*sec+1000, "NETFILTER_DROP")
	synTo(t, a, 2*sec)
	a.KernelDrop(kCli, kSrv, protoTCP, 2*sec+1000, "NETFILTER_DROP")
	a.Advance(30 * sec)
	r := a.Report(nil, false)
	f := flowOf(t, r, "198.51.100.20:1863")
	if f.Outcome != KernelDrop || f.Detail != "dropped by this host's kernel: NETFILTER_DROP (netfilter rules), 2 packets" {
		t.Errorf("outcome %s, detail %q", f.Outcome, f.Detail)
	}
	if r.Features[0].Verdict != Blocked || r.Features[0].Outcomes["kernel_drop"] != 1 {
		t.Errorf("feature %+v", r.Features[0])
	}
}

// TestKernelDropCreatesTheFlow: a packet dropped on this host's output path
// before any capture point still makes its flow.
func TestKernelDropCreatesTheFlow(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	a.Advance(1 * sec)
	a.KernelDrop(kCli, kSrv, protoTCP, 1*sec, "NETFILTER_DROP")
	r := a.Snapshot(nil)
	f := flowOf(t, r, "198.51.100.20:1863")
	if f.Client != kCli.String() || f.Outcome != KernelDrop || f.Evidence != "port" {
		t.Errorf("flow %+v", f)
	}
	if !strings.HasSuffix(f.Detail, "NETFILTER_DROP (netfilter rules)") {
		t.Errorf("detail %q", f.Detail)
	}
}

// TestKernelDropKeepsWhatThePacketsShow: a flow that worked stays ok, and a
// reason that is the protocols' ordinary work (NO_SOCKET: the port is
// closed, the RST says "refused") changes nothing.
func TestKernelDropKeepsWhatThePacketsShow(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	synTo(t, a, 1*sec)
	feed(t, a, 1*sec+1e6, eth(layers.EthernetTypeIPv4), ip4("198.51.100.20", "192.0.2.10", layers.IPProtocolTCP), tcpSeg(1863, 50000, "RA"))
	a.KernelDrop(kCli, kSrv, protoTCP, 1*sec, "NO_SOCKET")
	a.KernelDrop(kCli, kSrv, protoTCP, 1*sec, "TCP_OLD_DATA")

	other := netip.MustParseAddrPort("198.51.100.21:1863")
	feed(t, a, 2*sec, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "198.51.100.21", layers.IPProtocolTCP), tcpSYN(50001, 1863))
	feed(t, a, 2*sec+1e6, eth(layers.EthernetTypeIPv4), ip4("198.51.100.21", "192.0.2.10", layers.IPProtocolTCP), tcpSeg(1863, 50001, "SA"))
	feed(t, a, 2*sec+2e6, eth(layers.EthernetTypeIPv4), ip4("198.51.100.21", "192.0.2.10", layers.IPProtocolTCP), tcpSeg(1863, 50001, "PA"), gopacket.Payload("VER 1 MSNP18\r\n"))
	a.KernelDrop(netip.MustParseAddrPort("192.0.2.10:50001"), other, protoTCP, 3*sec, "NETFILTER_DROP")
	a.Advance(30 * sec)
	r := a.Report(nil, false)
	if f := flowOf(t, r, "198.51.100.20:1863"); f.Outcome != Refused {
		t.Errorf("closed port: %s %q", f.Outcome, f.Detail)
	}
	if f := flowOf(t, r, other.String()); f.Outcome != OK {
		t.Errorf("working flow: %s %q", f.Outcome, f.Detail)
	}
}

// TestKernelCounters: the kernel's counters replace the sampled ones, so
// payload the engine did not send (after the flow was named) still counts.
func TestKernelCounters(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	synTo(t, a, 1*sec)
	feed(t, a, 1*sec+1e6, eth(layers.EthernetTypeIPv4), ip4("198.51.100.20", "192.0.2.10", layers.IPProtocolTCP), tcpSeg(1863, 50000, "SA"))
	feed(t, a, 1*sec+2e6, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcpSeg(50000, 1863, "PA"), gopacket.Payload("VER 1 MSNP18 CVR0\r\n"))
	before := a.Stats()
	// Client and server swapped: the auditor keeps its own client.
	a.KernelCounters(&KernelFlow{Client: kSrv, Server: kCli, Proto: protoTCP, First: 1 * sec, Last: 5 * sec,
		C2S: KernelDir{Packets: 7, Bytes: 5000, Payload: 4000, FirstPayload: 1*sec + 3e6, Flags: 0x12 | 0x08},
		S2C: KernelDir{Packets: 9, Bytes: 900, Payload: 19, FirstPayload: 1*sec + 2e6, Flags: 0x1a}})
	a.Advance(10 * sec)
	r := a.Report(nil, false)
	f := flowOf(t, r, "198.51.100.20:1863")
	if f.Outcome != OK || f.Packets != 16 || f.Bytes != 5900 || f.Last != stamp(5*sec) {
		t.Errorf("flow %+v", f)
	}
	if got := a.Stats().Packets - before.Packets; got != 16-3 {
		t.Errorf("packets added to the stats %d, want 13", got)
	}

	// A UDP flow only the kernel saw (no datagram was sent to user space);
	// one idle past the timeout is not brought back.
	b := NewAuditor(DefaultConfig())
	b.Advance(200 * sec)
	echo := netip.MustParseAddrPort("198.51.100.7:7001")
	b.KernelCounters(&KernelFlow{Client: kCli, Server: echo, Proto: protoUDP, First: 199 * sec, Last: 199 * sec, C2S: KernelDir{Packets: 3, Bytes: 180}})
	b.KernelCounters(&KernelFlow{Client: kCli, Server: netip.MustParseAddrPort("198.51.100.8:7001"), Proto: protoUDP, First: 10 * sec, Last: 10 * sec, C2S: KernelDir{Packets: 1}})
	r = b.Snapshot(nil)
	if len(r.Flows) != 1 || r.Flows[0].Server != echo.String() || r.Flows[0].Packets != 3 || r.Flows[0].Outcome != Incomplete {
		t.Errorf("kernel-only flows %+v", r.Flows)
	}
}

// TestWantsPayload: a flow named by its ClientHello needs no more payload;
// an HTTP flow waits for the response status; MSNP keeps signalling.
func TestWantsPayload(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	cli := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(kCli.Addr(), port) }
	srv := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(kSrv.Addr(), port) }
	send := func(sport, dport uint16, fromClient bool, flags string, payload []byte) {
		src, dst := "192.0.2.10", "198.51.100.20"
		if !fromClient {
			src, dst = dst, src
		}
		seg := tcpSeg(sport, dport, flags)
		if payload != nil {
			seg.Seq = 1001 // right after the SYN's
		}
		ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolTCP), seg}
		if payload != nil {
			ls = append(ls, gopacket.Payload(payload))
		}
		feed(t, a, 1*sec, ls...)
	}
	if !a.WantsPayload(cli(1), srv(443), protoTCP) {
		t.Error("unknown flow: want payload")
	}
	for _, c := range []struct {
		port    uint16
		payload []byte
	}{{443, inspecttest.ClientHello(t, "login.live.com")}, {80, []byte("GET / HTTP/1.1\r\nHost: gateway.messenger.hotmail.com\r\n\r\n")}, {1863, []byte("VER 1 MSNP18 CVR0\r\n")}} {
		send(40000+c.port, c.port, true, "S", nil)
		send(c.port, 40000+c.port, false, "SA", nil)
		send(40000+c.port, c.port, true, "PA", c.payload)
	}
	if a.WantsPayload(cli(40443), srv(443), protoTCP) {
		t.Error("TLS flow named by its SNI still wants payload")
	}
	if !a.WantsPayload(srv(80), cli(40080), protoTCP) {
		t.Error("HTTP flow without a response status does not want payload")
	}
	send(80, 40080, false, "PA", []byte("HTTP/1.1 200 OK\r\n\r\n"))
	if a.WantsPayload(cli(40080), srv(80), protoTCP) {
		t.Error("HTTP flow with its status still wants payload")
	}
	if !a.WantsPayload(cli(41863), srv(1863), protoTCP) {
		t.Error("MSNP flow does not want payload")
	}
}

// TestKernelCountersWithoutPackets: a kernel entry with no packet counted
// (the drop program made it, for a drop that was ordinary or in another
// namespace) makes no flow; flowOf finds open flows, either way round.
func TestKernelCountersWithoutPackets(t *testing.T) {
	a := NewAuditor(DefaultConfig())
	a.Advance(1 * sec)
	a.KernelCounters(&KernelFlow{Client: kCli, Server: kSrv, Proto: protoTCP, First: 1 * sec, Last: 1 * sec})
	if r := a.Snapshot(nil); len(r.Flows) != 0 || r.Capture.FlowsTotal != 0 || a.flowOf(kCli, kSrv, protoTCP) != nil {
		t.Errorf("an uncounted kernel entry made a flow: %+v", r.Flows)
	}
	a.KernelCounters(&KernelFlow{Client: kCli, Server: kSrv, Proto: protoTCP, First: 1 * sec, Last: 1 * sec,
		C2S: KernelDir{Packets: 1, Bytes: 74, Flags: flagSYN}})
	if a.flowOf(kCli, kSrv, protoTCP) == nil || a.flowOf(kSrv, kCli, protoTCP) == nil || a.flowOf(kCli, kSrv, protoUDP) != nil {
		t.Error("flowOf does not see the counted flow both ways round, or sees it as UDP")
	}
}
