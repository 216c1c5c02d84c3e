package classify

import (
	"encoding/binary"
	"net"
	"strconv"

	"github.com/msnaudit/msnaudit/classify/inspect"
)

// The flow table is split into numShards shards by a hash of the flow's
// key. A shard owns its flows: one goroutine at a time feeds it its packets,
// in order, and different shards can be fed in parallel (Batch). What
// crosses flows (DNS answers, endpoints that signalling announces, the
// report's tallies) belongs to the Auditor and changes only through events
// that the shards log and the Auditor applies, in packet order, after each
// packet (Packet) or batch (Batch). So the report does not depend on how
// many goroutines fed the shards.
//
// The number is fixed, not the machine's core count, because it bounds what
// each shard may hold (max-flows and the reassembly budget are split
// evenly): the same capture gives the same report on every machine.
const numShards = 16

// noShard marks a packet that belongs to no flow (malformed, not IP, a
// later fragment, an ICMP message that quotes nothing).
const noShard = 0xff

// shardOf picks the shard of a flow key; both directions' keys are the same.
func shardOf(k *flowKey) uint8 {
	x := binary.LittleEndian.Uint64(k.a.ip[8:]) ^ binary.LittleEndian.Uint64(k.b.ip[8:])*0x9e3779b97f4a7c15 ^
		uint64(k.a.port)<<24 ^ uint64(k.b.port)<<40 ^ uint64(k.proto)
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	return uint8(x >> 60)
}

// shard is one part of the flow table with what its packets need.
type shard struct {
	a                     *Auditor // read only while shards run in parallel: cfg, rules
	id                    uint8
	table                 *flowTable
	free                  []*flow // finished flows, for reuse (refilled when their finish event is applied)
	maxFlows              int
	maxReasm              int
	reasmBytes            int // bytes held by this shard's reassembly buffers
	evicted, reasmDropped uint64
	events                []event    // logged since the last apply, in packet order
	copies                []copySlot // (made for the first packet of a source of several interfaces)
	copiesSeen            uint64
	seq                   uint64 // the packet being fed
	order                 uint64 // events logged for it so far

	// scratch, reused for every packet
	req    inspect.Request
	resp   inspect.Response
	sniBuf [inspect.SNIBufLen]byte
}

func newShard(a *Auditor, id int) *shard {
	return &shard{
		a: a, id: uint8(id), table: newFlowTable(), free: make([]*flow, 0, 64),
		maxFlows: max(1, (a.cfg.MaxFlows+numShards-1)/numShards),
		maxReasm: max(1, a.cfg.MaxReassembly/numShards),
	}
}

type eventKind uint8

const (
	evNew    eventKind = iota // a flow began: name it from DNS answers and announced endpoints
	evDNS                     // a DNS message: record the lookup and what it answered
	evSignal                  // a signalling segment: learn the endpoints it announces
	evFinish                  // a flow ended: judge it into the results
)

// event is a change that crosses flows, logged by a shard for the Auditor.
// Events apply in the order (seq, order): a packet's own events in the
// order they were logged, then the flows a sweep after it finished, least
// recently seen first (order is then the flow's last packet, plus one).
type event struct {
	seq, order uint64
	kind       eventKind
	flag       bool // evDNS: over TCP; evSignal: from the server
	f          *flow
	p          []byte // evDNS, evSignal: the payload (valid until the events are applied)
	ts         int64  // the packet's time; evFinish: the time the flow is judged at
}

func (s *shard) log(kind eventKind, f *flow, p []byte, ts int64, flag bool) {
	s.events = append(s.events, event{seq: s.seq, order: s.order, kind: kind, flag: flag, f: f, p: p, ts: ts})
}

// packet feeds one decoded packet of this shard's flows; k is its flow's
// key (decodePacket's), iface where it was captured (ifaceOf).
func (s *shard) packet(d *decoded, k *flowKey, iface uint64, ts int64, wireLen int, seq uint64) {
	s.seq, s.order = seq, 0
	if s.isCopy(d, iface, ts) {
		return
	}
	if d.proto == protoTCP || d.proto == protoUDP {
		s.transport(d, k, ts, wireLen)
	} else {
		s.icmpError(d, k, ts)
	}
}

// sweep finishes flows idle past the timeout, after packet seq.
func (s *shard) sweep(now int64, seq uint64) {
	idle := int64(s.a.cfg.IdleTimeout)
	for f := s.table.head; f != nil && now-f.last > idle; f = s.table.head {
		s.seq, s.order = seq, f.seq+1
		s.finish(f, now)
	}
}

// finish drops a flow from the table; the Auditor judges it when it
// applies the event.
func (s *shard) finish(f *flow, end int64) {
	s.drop(f)
	s.log(evFinish, f, nil, end, false)
}

// drop takes a flow out of the table and frees its reassembly buffer.
func (s *shard) drop(f *flow) {
	s.table.remove(f)
	if f.reasm != nil {
		s.reasmBytes -= cap(f.reasm.buf)
		f.reasm = nil
	}
}

// touch marks f as seen by the packet being fed.
func (s *shard) touch(f *flow) {
	f.seq = s.seq
	s.table.touch(f)
}

func (s *shard) transport(d *decoded, k *flowKey, ts int64, wireLen int) {
	f := s.table.get(*k)
	syn := d.proto == protoTCP && d.tcpFlags&(flagSYN|flagACK) == flagSYN
	if f != nil && syn && d.src == f.client && f.c2s.syns > 0 && d.seq != f.clientISN && (f.c2s.finAt|f.c2s.rstAt|f.s2c.finAt|f.s2c.rstAt) != 0 {
		s.finish(f, ts) // the port pair is reused by a new connection
		f = nil
	}
	if f == nil {
		f = s.newFlow(d, ts)
	}
	f.last = ts
	s.touch(f)
	dir := &f.c2s
	fromClient := d.src == f.client
	if !fromClient {
		dir = &f.s2c
	}
	dir.packets++
	dir.bytes += uint64(wireLen)
	if d.proto == protoTCP {
		dir.flags |= d.tcpFlags
		switch {
		case syn && fromClient:
			if dir.syns == 0 {
				dir.firstSYN = ts
				f.clientISN = d.seq
			}
			dir.syns++
			dir.lastSYN = ts
		case d.tcpFlags&(flagSYN|flagACK) == flagSYN|flagACK && !fromClient:
			f.synAck = true
		}
		if d.tcpFlags&flagFIN != 0 && dir.finAt == 0 {
			dir.finAt = ts
		}
		if d.tcpFlags&flagRST != 0 && dir.rstAt == 0 {
			dir.rstAt = ts
		}
	}
	if len(d.payload) == 0 {
		return
	}
	dir.payload += uint64(len(d.payload))
	if dir.firstPayload == 0 {
		dir.firstPayload = ts
	}
	if d.proto == protoUDP {
		s.inspectDatagram(f, d, fromClient, ts)
		return
	}
	s.inspectSegment(f, d, fromClient, ts)
}

// newFlow starts a flow, finishing the least recently seen one first when
// the shard is full. The Auditor names it from DNS answers and announced
// endpoints when it applies the evNew event.
func (s *shard) newFlow(d *decoded, ts int64) *flow {
	if s.table.len() >= s.maxFlows {
		s.evicted++
		s.finish(s.table.head, ts)
	}
	var f *flow
	if n := len(s.free); n > 0 {
		f, s.free = s.free[n-1], s.free[:n-1]
		*f = flow{}
	} else {
		f = new(flow)
	}
	f.shard, f.proto, f.first, f.client, f.server, f.cand = s.id, d.proto, ts, d.src, d.dst, candAll
	a := s.a
	if d.proto == protoTCP {
		switch {
		case d.tcpFlags&(flagSYN|flagACK) == flagSYN:
		case d.tcpFlags&(flagSYN|flagACK) == flagSYN|flagACK:
			f.client, f.server = d.dst, d.src
		default:
			f.midstream = true
			if a.serverLike(d.src.port, d.dst.port) {
				f.client, f.server = d.dst, d.src
			}
		}
	} else if a.portRank(d.src.port) > a.portRank(d.dst.port) {
		// The first datagram seen comes from a server's port to a client's:
		// a reply whose request came before the capture began.
		f.client, f.server, f.midstream = d.dst, d.src, true
	}
	f.seq = s.seq
	s.table.add(f)
	s.log(evNew, f, nil, ts, false)
	return f
}

// icmpError joins an ICMP error to the flow it quotes.
func (s *shard) icmpError(d *decoded, k *flowKey, ts int64) {
	if d.proto == protoICMP && d.icmpType == 3 && d.icmpCode == 4 || d.proto == protoICMPv6 && d.icmpType == 2 {
		return // "fragmentation needed" / "packet too big": path MTU discovery, not a block
	}
	f := s.table.get(*k)
	if f == nil || f.icmp {
		return
	}
	f.icmp, f.icmpTyp, f.icmpCod, f.icmpAt, f.icmpBy = true, d.icmpType, d.icmpCode, ts, d.src.ip
	if d.proto == protoICMPv6 {
		f.icmpTyp |= 0x80 // remember the family in the type's top bit (ICMPv6 errors are < 128)
	}
}

func (s *shard) inspectDatagram(f *flow, d *decoded, fromClient bool, ts int64) {
	if f.server.port == 53 || f.client.port == 53 {
		f.sig = sigDNS
		s.log(evDNS, nil, d.payload, ts, false)
		return
	}
	if !fromClient || f.c2s.inspectDone {
		return
	}
	f.c2s.inspectDone = true
	switch {
	case inspect.EchoProbe(d.payload) == inspect.Match:
		f.sig = sigEcho
	case inspect.SIP(d.payload) == inspect.Match:
		f.sig = sigSIP
	case inspect.TURN(d.payload) == inspect.Match:
		f.sig = sigTURN
	}
}

func (s *shard) inspectSegment(f *flow, d *decoded, fromClient bool, ts int64) {
	p := d.payload
	if f.server.port == 53 {
		// DNS over TCP: messages that start a segment (most do) are read.
		f.sig = sigDNS
		s.log(evDNS, nil, p, ts, true)
		return
	}
	if fromClient {
		if !f.c2s.inspectDone {
			s.nameFromClient(f, d.seq, p, ts)
		} else if f.sig == sigMSNP {
			s.signalling(f, &f.c2s, p, false, ts)
		}
		f.c2s.inspected += len(p)
		return
	}
	switch {
	case f.sig == sigHTTP || f.sig == sigGateway:
		if f.httpStatus == 0 && !f.s2c.inspectDone {
			f.s2c.inspectDone = true
			if inspect.ParseResponse(p, &s.resp) != inspect.NoMatch && s.resp.Status > 0 {
				f.httpStatus = s.resp.Status
				if s.resp.XMSNMessenger {
					f.sig = sigGateway
				}
			}
		}
	case f.sig == sigMSNP:
		s.signalling(f, &f.s2c, p, true, ts)
	case f.sig == sigNone && !f.s2c.inspectDone:
		// A flow whose client's first bytes were not seen (mid-stream) or
		// named nothing: MSNP servers answer in kind.
		f.s2c.inspectDone = true
		if _, r := inspect.MSNPCommand(p); r == inspect.Match {
			f.sig = sigMSNP
			s.signalling(f, &f.s2c, p, true, ts)
		}
	}
	f.s2c.inspected += len(p)
}

// signalling logs a signalling flow's segment, within the scan limit, for
// the redirects and invitations it may carry.
func (s *shard) signalling(f *flow, dir *direction, p []byte, fromServer bool, ts int64) {
	if dir.inspected < s.a.cfg.SignalLimit {
		s.log(evSignal, f, p, ts, fromServer)
	}
}

// nameFromClient runs the inspectors on the client's first bytes, in stream
// order, until one names the flow or none can.
func (s *shard) nameFromClient(f *flow, seq uint32, p []byte, ts int64) {
	cfg := &s.a.cfg
	if f.reasm == nil {
		base := seq
		if f.c2s.syns > 0 {
			base = f.clientISN + 1
		}
		if seq == base {
			if s.nameClient(f, p) {
				f.c2s.inspectDone = true
				if f.sig == sigMSNP {
					s.signalling(f, &f.c2s, p, false, ts)
				}
				return
			}
		}
		f.reasm = &reassembly{base: base}
	}
	before := cap(f.reasm.buf)
	b := f.reasm.add(seq, p, cfg.InspectLimit)
	s.reasmBytes += cap(f.reasm.buf) - before
	if s.reasmBytes > s.maxReasm {
		// Every flow's reassembly shares one budget: a flood of half-sent
		// ClientHellos must not grow memory without bound.
		s.reasmDropped++
		s.endReassembly(f)
		return
	}
	if len(b) > 0 && s.nameClient(f, b) || len(b) >= cfg.InspectLimit || f.c2s.inspected+len(p) >= 2*cfg.InspectLimit {
		s.endReassembly(f)
	}
}

// endReassembly stops naming a flow from its client's bytes and frees the
// reassembly buffer.
func (s *shard) endReassembly(f *flow) {
	f.c2s.inspectDone = true
	if f.reasm != nil {
		s.reasmBytes -= cap(f.reasm.buf)
		f.reasm = nil
	}
}

// nameClient tries the client-side inspectors on the stream prefix b and
// reports whether naming is finished (named, or nothing can match).
func (s *shard) nameClient(f *flow, b []byte) bool {
	more := false
	try := func(c uint8, r inspect.Result) bool {
		switch r {
		case inspect.Match:
			return true
		case inspect.NoMatch:
			f.cand &^= c
		default:
			more = true
		}
		return false
	}
	if f.cand&candTLS != 0 {
		sni, r := inspect.ClientHelloSNIInto(b, &s.sniBuf)
		if try(candTLS, r) {
			f.sig = sigTLS
			if len(sni) > 0 {
				f.setHost(string(sni), "sni")
			}
			return true
		}
	}
	if f.cand&candHTTP != 0 && try(candHTTP, inspect.ParseRequest(b, &s.req)) {
		f.sig = sigHTTP
		if string(s.req.Method) == "CONNECT" {
			host, port, err := net.SplitHostPort(string(s.req.Target))
			if n, perr := strconv.ParseUint(port, 10, 16); err == nil && perr == nil {
				f.connect, f.connectTo = true, uint16(n)
				f.setHost(host, "connect")
			}
		} else if len(s.req.Host) > 0 {
			f.setHost(string(inspect.HostOnly(s.req.Host)), "http")
		}
		if inspect.IsGateway(&s.req) {
			f.sig = sigGateway
		}
		return true
	}
	if f.cand&candMSNP != 0 {
		if _, r := inspect.MSNPCommand(b); try(candMSNP, r) {
			f.sig = sigMSNP
			return true
		}
	}
	if f.cand&candDirect != 0 && try(candDirect, inspect.DirectHandshake(b)) {
		f.sig = sigDirect
		return true
	}
	if f.cand&candSIP != 0 && try(candSIP, inspect.SIP(b)) {
		f.sig = sigSIP
		return true
	}
	return !more
}

// reassemblyBytes is what every shard's reassembly buffers hold.
func (a *Auditor) reassemblyBytes() int {
	n := 0
	for _, sh := range a.shards {
		n += sh.reasmBytes
	}
	return n
}
