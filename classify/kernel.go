package classify

import (
	"net/netip"
	"strconv"
	"strings"
)

// The live eBPF engine counts every packet in the kernel and sends the
// auditor only the packets it needs to name flows (through Packet), the
// kernel's per-flow counters (KernelCounters) and the kernel's own drops
// (KernelDrop).

// KernelDir is one direction of a flow as the kernel counted it.
type KernelDir struct {
	Packets, Bytes uint64
	Payload        uint64 // transport payload bytes
	FirstPayload   int64  // Unix ns of the first payload byte, 0 if none
	Flags          uint8  // TCP flags seen, ORed
}

// KernelFlow is one flow of the kernel's flow table.
type KernelFlow struct {
	Client, Server netip.AddrPort // the client sent the first SYN, or else the first packet
	Proto          uint8          // 6 (TCP) or 17 (UDP)
	First, Last    int64          // Unix ns
	C2S, S2C       KernelDir
}

// kernelDrop is what the kernel's drops of a flow's packets said.
type kernelDrop struct {
	reason  string // the last reason, as the kernel's BTF names it: "NETFILTER_DROP"
	packets int
	at      int64
}

// KernelDrop records that this host's kernel dropped a packet from src to
// dst, with the reason named by the kernel's BTF (enum skb_drop_reason
// without its SKB_DROP_REASON_ prefix). A flow that failed, or was still
// waiting, gets the outcome KernelDrop with the reason in its detail. The
// flow is created if the auditor has not seen it (this host's own output
// path dropped its first packet before any capture point). Reasons that are
// the protocols' ordinary work (NO_SOCKET, which the RST reports as
// "refused"; TCP_* state checks; NOT_SPECIFIED) are ignored.
func (a *Auditor) KernelDrop(src, dst netip.AddrPort, proto uint8, ts int64, reason string) {
	if ordinaryDrop(reason) || proto != protoTCP && proto != protoUDP {
		return
	}
	f := a.kernelFlow(src, dst, proto, ts, true, 0)
	if f == nil {
		return
	}
	if f.kdrop == nil {
		f.kdrop = &kernelDrop{}
	}
	f.kdrop.reason, f.kdrop.at = reason, ts
	f.kdrop.packets++
}

// KernelCounters merges the kernel's counters of a flow into the auditor's:
// the kernel counted every packet, the auditor only those it was sent. A
// flow the auditor does not know is created unless it has been idle past
// the timeout (it was finished already), or the kernel counted none of its
// packets: an entry only the drop program made, for a drop KernelDrop
// judged (and made the flow for) or set aside as ordinary, perhaps in
// another network namespace.
func (a *Auditor) KernelCounters(k *KernelFlow) {
	if k.Proto != protoTCP && k.Proto != protoUDP {
		return
	}
	if k.C2S.Packets == 0 && k.S2C.Packets == 0 {
		return
	}
	if k.Last != 0 && k.Last < a.now-int64(a.cfg.IdleTimeout) {
		return
	}
	var flags uint8
	if k.Proto == protoTCP && k.C2S.Flags&flagSYN != 0 {
		flags = flagSYN
	}
	f := a.kernelFlow(k.Client, k.Server, k.Proto, k.First, false, flags)
	if f == nil {
		return
	}
	c2s, s2c := &k.C2S, &k.S2C
	if f.client != endpointOf(k.Client) {
		c2s, s2c = s2c, c2s
	}
	a.mergeDir(&f.c2s, c2s)
	a.mergeDir(&f.s2c, s2c)
	if k.First != 0 && k.First < f.first {
		f.first = k.First
	}
	if k.Last > f.last {
		f.last = k.Last
		a.touch(f)
	}
}

// touch marks a flow as seen now, outside any packet.
func (a *Auditor) touch(f *flow) {
	sh := a.shards[f.shard]
	sh.seq = a.seq
	a.seq++
	sh.touch(f)
}

// flowOf finds the flow of src and dst (in either direction), or nil.
func (a *Auditor) flowOf(src, dst netip.AddrPort, proto uint8) *flow {
	k := makeKey(endpointOf(src), endpointOf(dst), proto)
	return a.shards[shardOf(&k)].table.get(k)
}

func (a *Auditor) mergeDir(d *direction, k *KernelDir) {
	if k.Packets > d.packets {
		a.stats.Packets += k.Packets - d.packets
		d.packets = k.Packets
	}
	if k.Bytes > d.bytes {
		a.stats.Bytes += k.Bytes - d.bytes
		d.bytes = k.Bytes
	}
	d.payload = max(d.payload, k.Payload)
	if d.firstPayload == 0 {
		d.firstPayload = k.FirstPayload
	}
	d.flags |= k.Flags
}

// kernelFlow finds the flow of src and dst, or creates it with src as the
// client (a SYN's sender when flags say so) when create is set or counters
// say it is live.
func (a *Auditor) kernelFlow(src, dst netip.AddrPort, proto uint8, ts int64, fromDrop bool, flags uint8) *flow {
	s, d := endpointOf(src), endpointOf(dst)
	k := makeKey(s, d, proto)
	sh := a.shards[shardOf(&k)]
	if f := sh.table.get(k); f != nil {
		if fromDrop && ts > f.last {
			f.last = ts
			a.touch(f)
		}
		return f
	}
	if fromDrop {
		flags = flagSYN // a dropped first packet: its sender is the client, never answered
	}
	if ts == 0 {
		ts = a.now
	}
	sh.seq, sh.order = a.seq, 0
	a.seq++
	dec := &decoded{src: s, dst: d, proto: proto, tcpFlags: flags}
	f := sh.newFlow(dec, ts)
	f.last = ts
	a.apply()
	return f
}

func endpointOf(ap netip.AddrPort) endpoint {
	return endpoint{ip: ap.Addr().As16(), port: ap.Port()}
}

// WantsPayload reports whether the auditor still reads the payload of the
// flow from src to dst to name or judge it. When it does not, the eBPF
// engine stops sending the flow's payload (the kernel goes on counting it).
func (a *Auditor) WantsPayload(src, dst netip.AddrPort, proto uint8) bool {
	f := a.flowOf(src, dst, proto)
	if f == nil {
		return true
	}
	switch {
	case f.sig == sigDNS || f.server.port == 53 || f.client.port == 53:
		return true
	case f.sig == sigMSNP:
		// Redirects and invitations name other flows.
		return f.c2s.inspected < a.cfg.SignalLimit || f.s2c.inspected < a.cfg.SignalLimit
	case !f.c2s.inspectDone:
		return true
	case (f.sig == sigHTTP || f.sig == sigGateway) && f.httpStatus == 0 && !f.s2c.inspectDone:
		return true // the response status: 403, 407
	case f.sig == sigNone && !f.s2c.inspectDone && proto == protoTCP:
		return true // servers that speak first
	}
	return false
}

// kernelDropExplains reports whether a kernel drop, rather than what the
// packets showed, is why a flow got outcome o: a flow that worked, or that
// the service itself answered (HTTP status), keeps its outcome.
func kernelDropExplains(o Outcome) bool {
	switch o {
	case Dropped, Incomplete, Refused, ICMPUnreachable, ResetAfterHello:
		return true
	}
	return false
}

// ordinaryDrop reports whether a drop reason is the protocols' ordinary
// work rather than something blocking the flow.
func ordinaryDrop(reason string) bool {
	switch reason {
	case "", "NOT_SPECIFIED", "NO_SOCKET", "OTHERHOST", "PKT_TOO_SMALL", "DUP_FRAG",
		"QUEUE_PURGE", "UNICAST_IN_L2_MULTICAST", "NOT_DROPPED_YET", "CONSUMED":
		return true
	}
	return strings.HasPrefix(reason, "TCP_") || strings.HasPrefix(reason, "SOCKET_")
}

// dropFamilies words which part of the kernel a drop reason points to.
var dropFamilies = []struct{ prefix, what string }{
	{"NETFILTER_DROP", "netfilter rules"},
	{"IP_RPFILTER", "reverse-path filter"},
	{"BPF_CGROUP", "a cgroup eBPF program"},
	{"TC_", "a tc filter"},
	{"XDP", "an XDP program"},
	{"IP_NOROUTE", "no route"},
	{"IP_OUTNOROUTES", "no route"},
	{"IP_INADDRERRORS", "no route"},
	{"IPV6_NOROUTE", "no route"}, // not in every kernel
	{"NEIGH_", "neighbour (ARP/NDP) resolution"},
	{"QDISC_", "a full queue"},
	{"FULL_RING", "a full queue"},
	{"CPU_BACKLOG", "a full queue"},
}

func (k *kernelDrop) detail() string {
	s := "dropped by this host's kernel: " + k.reason
	for _, f := range dropFamilies {
		if strings.HasPrefix(k.reason, f.prefix) {
			s += " (" + f.what + ")"
			break
		}
	}
	if k.packets > 1 {
		s += ", " + strconv.Itoa(k.packets) + " packets"
	}
	return s
}
