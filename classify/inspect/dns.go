package inspect

import (
	"errors"
	"net/netip"
	"strconv"
)

// DNS messages (RFC 1035 §4), for the lookups of Messenger names: the question,
// the response code, and the A/AAAA answers that belong to the question's
// CNAME chain.

// ErrMalformedDNS is returned, unwrapped, for a DNS message that cannot be
// parsed: shorter than its header, a name with a forward or looping
// compression pointer, a name longer than 255 bytes, a reserved label type, or
// a question or answer record that runs past the end of the message.
var ErrMalformedDNS = errors.New("inspect: malformed dns message")

// ErrTruncatedDNS is returned by ParseDNSTCP when the 2-byte length prefix
// announces more bytes than b holds (more of the TCP stream is needed).
var ErrTruncatedDNS = errors.New("inspect: dns message truncated")

const (
	dnsHeaderLen = 12
	// maxNameWire is the longest name in wire format, length bytes and the
	// root label included (RFC 1035 §3.1).
	maxNameWire = 255
	// maxPtrHops bounds the compression pointers followed in one name.
	maxPtrHops = 64
	// maxChain bounds the names of a CNAME chain (the question name included).
	maxChain = 16
	// maxAnswerPasses bounds the walks over the answer section needed when a
	// CNAME record comes after the records it explains.
	maxAnswerPasses = 4

	dnsTypeA     = 1
	dnsTypeCNAME = 5
	dnsTypeAAAA  = 28
	dnsClassIN   = 1
)

// DNSMessage is what ParseDNS extracts from one DNS message. It is a plain
// value with fixed-size arrays, so it can live on the caller's stack or be
// reused across packets.
type DNSMessage struct {
	ID       uint16 // message ID
	Response bool   // QR bit: this is a response
	RCode    uint8  // response code (the header's 4 bits; see RCodeName)
	QType    uint16 // type of the first question

	QName    [255]byte // first question's name: lower-cased, dotted, no trailing dot
	QNameLen int       // length of the name in QName; 0 for the root or no question

	Addrs  [16]netip.Addr // A/AAAA answers whose owner is QName or a name QName's CNAME chain reaches in this message
	NAddrs int            // number of Addrs filled (at most len(Addrs); further addresses are dropped)

	NAnswers int // answer records in the message (ANCOUNT, once all were parsed)
	CNAMEs   int // CNAME records on QName's chain that were followed
}

// Name returns the first question's name, lower-cased and dotted without the
// trailing dot (m.QName[:m.QNameLen]).
func (m *DNSMessage) Name() []byte {
	n := m.QNameLen
	if n < 0 || n > len(m.QName) {
		n = 0
	}
	return m.QName[:n]
}

var rcodeNames = func() (t [256]string) {
	known := [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI"}
	for i := range t {
		if i < len(known) {
			t[i] = known[i]
		} else {
			t[i] = "RCODE" + strconv.Itoa(i)
		}
	}
	return t
}()

// RCodeName returns the IANA mnemonic of a DNS response code ("NOERROR",
// "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
// "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI") or "RCODE<n>" for
// the others. It does not allocate.
func RCodeName(rcode uint8) string { return rcodeNames[rcode] }

// IsSinkhole reports whether a is an address a DNS filter answers with to
// block a name: 0.0.0.0, 127.0.0.0/8, :: or ::1, also in IPv4-mapped IPv6 form
// (::ffff:0.0.0.0, ::ffff:127.x.y.z). Zones are ignored.
func IsSinkhole(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if a.Is4() {
		v := a.As4()
		return v == [4]byte{} || v[0] == 127
	}
	return a.Is6() && (a == netip.IPv6Unspecified() || a == netip.IPv6Loopback())
}

// ParseDNSTCP parses a DNS message carried over TCP (RFC 1035 §4.2.2): b starts
// with the 2-byte length prefix, which is skipped. It returns ErrTruncatedDNS
// when b holds fewer bytes than the prefix announces.
func ParseDNSTCP(b []byte, m *DNSMessage) error {
	if len(b) < 2 {
		*m = DNSMessage{}
		return ErrTruncatedDNS
	}
	n := be16(b)
	if len(b)-2 < n {
		*m = DNSMessage{}
		return ErrTruncatedDNS
	}
	return ParseDNS(b[2:2+n], m)
}

// ParseDNS parses one DNS message (a UDP payload) into m: the header, the first
// question (name lower-cased into m.QName, type into m.QType), and the answer
// section, where it follows the CNAME chain that starts at the question name
// and keeps the A and AAAA answers (class IN) whose owner is on that chain.
// Names are compared label by label, case-insensitively, in the wire bytes,
// following compression pointers; the chain is kept as offsets into b. Only
// backward compression pointers are accepted, at most 64 per name; names are
// at most 255 bytes and labels 63. The authority and additional sections are
// not read.
//
// A malformed message yields ErrMalformedDNS (the sentinel itself); m then
// holds what was parsed before the fault (the header, and the question if it
// was intact).
func ParseDNS(b []byte, m *DNSMessage) error {
	*m = DNSMessage{}
	if len(b) < dnsHeaderLen {
		return ErrMalformedDNS
	}
	m.ID = uint16(be16(b))
	flags := be16(b[2:])
	m.Response = flags&0x8000 != 0
	m.RCode = uint8(flags & 0x000f)
	qd, an := be16(b[4:]), be16(b[6:])

	off := dnsHeaderLen
	var ch dnsChain
	for i := 0; i < qd; i++ {
		end, _, h, ok := scanName(b, off)
		if !ok || end+4 > len(b) {
			return ErrMalformedDNS
		}
		if i == 0 {
			ch.add(off, h)
			m.QNameLen = decodeName(b, off, &m.QName)
			m.QType = uint16(be16(b[end:]))
		}
		off = end + 4
	}

	for pass := 0; pass < maxAnswerPasses; pass++ {
		again, n, err := m.walkAnswers(b, off, an, &ch)
		if pass == 0 {
			m.NAnswers = n
		}
		if err != nil {
			return err
		}
		if !again {
			break
		}
	}
	return nil
}

// dnsChain holds the names of a CNAME chain as offsets of their wire form in
// the message, with a hash of each name's lower-cased labels so that most
// comparisons are settled without walking the names again.
type dnsChain struct {
	off  [maxChain]int
	hash [maxChain]uint64
	n    int
}

func (c *dnsChain) add(off int, h uint64) {
	c.off[c.n], c.hash[c.n] = off, h
	c.n++
}

// has reports whether the name at off, whose hash is h, equals one of the
// chain's names.
func (c *dnsChain) has(msg []byte, off int, h uint64) bool {
	for i := 0; i < c.n; i++ {
		if c.hash[i] == h && nameEqual(msg, c.off[i], off) {
			return true
		}
	}
	return false
}

// walkAnswers walks the answer section once, filling m.Addrs and m.CNAMEs from
// scratch and growing the chain. It reports again=true when a name joined the
// chain after an A/AAAA/CNAME record that did not match it (so another walk
// could match more).
func (m *DNSMessage) walkAnswers(b []byte, off, an int, ch *dnsChain) (again bool, n int, err error) {
	m.NAddrs, m.CNAMEs = 0, 0
	unmatched := false
	// Records of one RRset usually share an owner stored once: the last
	// owner's position (after its leading pointers) and verdict are kept.
	lastStart, lastN, lastOn := -1, -1, false
	onChain := func(owner, start int, h uint64) bool {
		if start != lastStart || ch.n != lastN {
			lastStart, lastN, lastOn = start, ch.n, ch.has(b, owner, h)
		}
		return lastOn
	}
	for ; n < an; n++ {
		owner := off
		end, ostart, oh, ok := scanName(b, off)
		if !ok || end+10 > len(b) {
			return false, n, ErrMalformedDNS
		}
		typ, class, rdlen := be16(b[end:]), be16(b[end+2:]), be16(b[end+8:])
		rd := end + 10
		if rd+rdlen > len(b) {
			return false, n, ErrMalformedDNS
		}
		off = rd + rdlen
		if class&0x7fff != dnsClassIN || ch.n == 0 {
			continue
		}
		switch typ {
		case dnsTypeA, dnsTypeAAAA:
			if typ == dnsTypeA && rdlen != 4 || typ == dnsTypeAAAA && rdlen != 16 {
				continue
			}
			if !onChain(owner, ostart, oh) {
				unmatched = true
				continue
			}
			if m.NAddrs < len(m.Addrs) {
				if typ == dnsTypeA {
					m.Addrs[m.NAddrs] = netip.AddrFrom4([4]byte(b[rd : rd+4]))
				} else {
					m.Addrs[m.NAddrs] = netip.AddrFrom16([16]byte(b[rd : rd+16]))
				}
				m.NAddrs++
			}
		case dnsTypeCNAME:
			tend, _, th, ok := scanName(b, rd)
			if !ok || tend > rd+rdlen {
				return false, n, ErrMalformedDNS
			}
			if !onChain(owner, ostart, oh) {
				unmatched = true
				continue
			}
			m.CNAMEs++
			if ch.n < maxChain && !ch.has(b, rd, th) {
				ch.add(rd, th)
				if unmatched {
					again = true
				}
			}
		}
	}
	return again, n, nil
}

// nameIter walks the labels of a wire-format name, following compression
// pointers. A pointer must point before the start of the run of labels it
// ends (so every hop goes strictly backwards and walks terminate), at most
// maxPtrHops pointers are followed, and the name may not exceed maxNameWire
// bytes.
type nameIter struct {
	msg      []byte
	pos      int // next byte to read
	runStart int // where the current run of in-line labels began
	hops     int
	wire     int // wire length so far
	end      int // offset just past the name where it is stored in line; -1 until known
}

func newNameIter(msg []byte, off int) nameIter {
	return nameIter{msg: msg, pos: off, runStart: off, end: -1}
}

// resolve follows pointers until pos is at a length byte. It fails on a bad
// pointer or reserved label type.
func (it *nameIter) resolve() bool {
	for {
		if it.pos >= len(it.msg) {
			return false
		}
		c := it.msg[it.pos]
		switch c & 0xc0 {
		case 0x00:
			return true
		case 0xc0:
			if it.pos+1 >= len(it.msg) {
				return false
			}
			ptr := int(c&0x3f)<<8 | int(it.msg[it.pos+1])
			if it.end < 0 {
				it.end = it.pos + 2
			}
			if ptr >= it.runStart {
				return false
			}
			it.hops++
			if it.hops > maxPtrHops {
				return false
			}
			it.pos, it.runStart = ptr, ptr
		default: // 0x40 extended and 0x80 reserved label types
			return false
		}
	}
}

// next returns the next label; an empty label marks the root (end of name).
func (it *nameIter) next() ([]byte, bool) {
	if !it.resolve() {
		return nil, false
	}
	l := int(it.msg[it.pos])
	if it.pos+1+l > len(it.msg) {
		return nil, false
	}
	it.wire += 1 + l
	if it.wire > maxNameWire {
		return nil, false
	}
	label := it.msg[it.pos+1 : it.pos+1+l]
	it.pos += 1 + l
	if l == 0 && it.end < 0 {
		it.end = it.pos
	}
	return label, true
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// scanName validates the name at off and returns the offset just after its
// in-line part, the offset of its first label once leading compression
// pointers are followed (names starting at the same place are equal), and an
// FNV-1a hash of its length-prefixed, lower-cased labels (equal names have
// equal hashes).
func scanName(msg []byte, off int) (end, start int, h uint64, ok bool) {
	it := newNameIter(msg, off)
	if !it.resolve() {
		return 0, 0, 0, false
	}
	start = it.pos
	h = fnvOffset
	for {
		l, ok := it.next()
		if !ok {
			return 0, 0, 0, false
		}
		h = (h ^ uint64(len(l))) * fnvPrime
		for _, c := range l {
			h = (h ^ uint64(lower(c))) * fnvPrime
		}
		if len(l) == 0 {
			return it.end, start, h, true
		}
	}
}

// decodeName writes the (valid) name at off lower-cased and dotted into dst and
// returns its length.
func decodeName(msg []byte, off int, dst *[255]byte) int {
	it := newNameIter(msg, off)
	n := 0
	for {
		l, ok := it.next()
		if !ok || len(l) == 0 {
			return n
		}
		if n > 0 {
			if n >= len(dst) {
				return n
			}
			dst[n] = '.'
			n++
		}
		for _, c := range l {
			if n >= len(dst) {
				return n
			}
			dst[n] = lower(c)
			n++
		}
	}
}

// nameEqual compares the names at offsets a and b case-insensitively, label by
// label. Invalid names compare unequal.
func nameEqual(msg []byte, a, b int) bool {
	ia, ib := newNameIter(msg, a), newNameIter(msg, b)
	for {
		if !ia.resolve() || !ib.resolve() {
			return false
		}
		if ia.pos == ib.pos && ia.wire == ib.wire {
			// Same bytes from here on, after the same number of bytes so far:
			// the rest is equal (and was validated when it was first parsed).
			return true
		}
		la, oka := ia.next()
		lb, okb := ib.next()
		if !oka || !okb || !equalFoldBytes(la, lb) {
			return false
		}
		if len(la) == 0 {
			return true
		}
	}
}
