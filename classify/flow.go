package classify

import (
	"cmp"
	"encoding/binary"
)

// flowKey identifies a bidirectional flow: the two endpoints in canonical
// order (a <= b), so both directions find the same entry.
type flowKey struct {
	a, b  endpoint
	proto uint8
}

func makeKey(src, dst endpoint, proto uint8) (k flowKey) {
	k.set(&src, &dst, proto)
	return k
}

// set makes k the key of the flow between src and dst, in place: endpoints
// are compared as words, not copied around by value.
func (k *flowKey) set(src, dst *endpoint, proto uint8) {
	if compareEndpoints(dst, src) < 0 {
		src, dst = dst, src
	}
	k.a, k.b, k.proto = *src, *dst, proto
}

func compareEndpoints(x, y *endpoint) int {
	// Two 64-bit halves compare as the 16 bytes do, without a call.
	if a, b := binary.BigEndian.Uint64(x.ip[:8]), binary.BigEndian.Uint64(y.ip[:8]); a != b {
		return cmp.Compare(a, b)
	}
	if a, b := binary.BigEndian.Uint64(x.ip[8:]), binary.BigEndian.Uint64(y.ip[8:]); a != b {
		return cmp.Compare(a, b)
	}
	return cmp.Compare(x.port, y.port)
}

// direction holds one direction's counters, those every packet changes
// first.
type direction struct {
	packets, bytes uint64
	payload        uint64 // transport payload bytes
	inspected      int    // payload bytes inspected so far
	flags          uint8  // TCP flags seen, ORed
	inspectDone    bool   // naming finished for this direction
	firstPayload   int64  // time of the first payload byte, 0 if none
	finAt, rstAt   int64  // time of the first FIN / RST, 0 if none
	syns           int    // SYNs without ACK (client) or SYN-ACKs (server)
	firstSYN       int64
	lastSYN        int64
}

// signature is the Messenger protocol signature a flow showed.
type signature uint8

const (
	sigNone signature = iota
	sigMSNP
	sigGateway
	sigDirect
	sigSIP
	sigEcho
	sigTURN
	sigTLS  // not Messenger by itself: a TLS ClientHello
	sigHTTP // not Messenger by itself: an HTTP request
	sigDNS
)

var signatureNames = [...]string{sigNone: "", sigMSNP: SigMSNP, sigGateway: SigGateway, sigDirect: SigDirect,
	sigSIP: SigSIP, sigEcho: SigEchoProbe, sigTURN: "turn", sigTLS: "tls", sigHTTP: "http", sigDNS: "dns"}

// Candidate inspectors for the client's first bytes.
const (
	candTLS uint8 = 1 << iota
	candHTTP
	candMSNP
	candDirect
	candSIP
	candAll = candTLS | candHTTP | candMSNP | candDirect | candSIP
)

// flow is one entry of the flow table. What every packet reads or changes
// comes first, so that a packet touches few cache lines.
type flow struct {
	client, server endpoint
	proto          uint8
	sig            signature
	cand           uint8 // client inspectors still possible
	midstream      bool  // the capture did not see its start
	synAck         bool
	shard          uint8
	last           int64
	seq            uint64 // the last packet (or kernel update) seen: the order of the idle lists across shards
	prev, next     *flow  // idle list, least recently seen first
	c2s, s2c       direction
	clientISN      uint32
	reasm          *reassembly
	first          int64

	host       string
	hostSource string
	dnsHost    string // the name a DNS answer gave the server's address before the flow began
	connect    bool   // HTTP CONNECT through a proxy: host is the target
	connectTo  uint16 // the CONNECT target's port
	httpStatus int
	learned    *learnedEndpoint

	slpApp  uint8 // the last invitation's application on a signalling flow (inspect.App)
	icmp    bool
	icmpTyp uint8
	icmpCod uint8
	icmpAt  int64
	icmpBy  addr
	kdrop   *kernelDrop // this host's kernel dropped packets of the flow (the eBPF engine saw it)
}

// flowTable keeps flows by key and in order of last activity, so idle ones
// can be finished from the front in O(1).
type flowTable struct {
	m          map[flowKey]*flow
	head, tail *flow
}

func newFlowTable() *flowTable { return &flowTable{m: make(map[flowKey]*flow, 64)} }

func (t *flowTable) get(k flowKey) *flow { return t.m[k] }

// key is the flow's key, made from its endpoints.
func (f *flow) key() flowKey { return makeKey(f.client, f.server, f.proto) }

func (t *flowTable) len() int { return len(t.m) }

func (t *flowTable) add(f *flow) {
	t.m[f.key()] = f
	t.pushBack(f)
}

func (t *flowTable) remove(f *flow) {
	delete(t.m, f.key())
	t.unlink(f)
}

// touch moves f to the back of the idle list.
func (t *flowTable) touch(f *flow) {
	if t.tail == f {
		return
	}
	t.unlink(f)
	t.pushBack(f)
}

func (t *flowTable) pushBack(f *flow) {
	f.prev, f.next = t.tail, nil
	if t.tail != nil {
		t.tail.next = f
	} else {
		t.head = f
	}
	t.tail = f
}

func (t *flowTable) unlink(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		t.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		t.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// reassembly collects the first bytes of the client's stream in order, for
// a ClientHello or HTTP head that spans segments or arrives out of order.
type reassembly struct {
	base   uint32 // sequence number of stream byte 0
	buf    []byte
	ranges [8][2]int // filled [start, end) spans, unordered
	n      int
}

// add stores a segment at its stream offset and returns the contiguous
// prefix from byte 0. Bytes past limit are ignored.
func (r *reassembly) add(seq uint32, p []byte, limit int) []byte {
	off := int(int32(seq - r.base))
	if off < 0 {
		p = p[min(-off, len(p)):]
		off = 0
	}
	end := min(off+len(p), limit)
	if off < end && r.n < len(r.ranges) {
		if len(r.buf) < end {
			r.buf = append(r.buf, make([]byte, end-len(r.buf))...)
		}
		copy(r.buf[off:end], p)
		r.ranges[r.n] = [2]int{off, end}
		r.n++
	}
	prefix := 0
	for grown := true; grown; {
		grown = false
		for i := 0; i < r.n; i++ {
			if s, e := r.ranges[i][0], r.ranges[i][1]; s <= prefix && e > prefix {
				prefix, grown = e, true
			}
		}
	}
	return r.buf[:prefix]
}
