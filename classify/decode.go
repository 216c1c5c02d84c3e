package classify

import (
	"encoding/binary"

	"github.com/msnaudit/msnaudit/capture"
)

// IP protocol numbers the decoder knows.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// addr is an IPv4 (in IPv4-mapped form) or IPv6 address, kept as a fixed
// array so flow keys hash without pointers.
type addr [16]byte

// endpoint is one side of a flow.
type endpoint struct {
	ip   addr
	port uint16
}

// decoded is one packet's headers, decoded in place. Payload aliases the
// packet buffer.
type decoded struct {
	src, dst     endpoint
	proto        uint8 // transport: protoTCP, protoUDP, protoICMP, protoICMPv6, or another IP protocol
	v6           bool
	fragment     bool // an IP fragment (first or not)
	laterFrag    bool // a fragment other than the first: no transport header
	tcpFlags     uint8
	seq, ack     uint32
	payload      []byte
	icmpType     uint8
	icmpCode     uint8
	quoted       bool // an ICMP error quoting a TCP/UDP packet; qsrc/qdst/qproto are filled
	qsrc, qdst   endpoint
	qproto       uint8
	snapCut      bool   // the capture length cut the transport payload short
	ipPayloadLen int    // transport bytes on the wire (from the IP header), for byte counts
	ipID         uint32 // IPv4 identification, IPv6 flow label: with the rest, tells a packet from another
	ifindex      uint32 // the interface of a Linux cooked v2 (-i any) frame, 0 otherwise
}

// decodeResult classifies a packet the decoder could not take to a transport.
type decodeResult uint8

const (
	decOK        decodeResult = iota
	decNotIP                  // ARP, LLDP, ...: counted, not an error
	decMalformed              // headers inconsistent with their lengths
)

// v4Addr is the IPv4-mapped form of the address b[:4], written as two
// words: the flow key reads it back as words (byte-wise stores would stall
// those loads).
func v4Addr(b []byte) (a addr) {
	binary.LittleEndian.PutUint64(a[8:], 0xffff0000|uint64(binary.LittleEndian.Uint32(b))<<32)
	return a
}

// decode parses the link, network and transport headers of data into d.
// It never allocates and never reads past data.
func decode(link capture.LinkType, data []byte, d *decoded) decodeResult {
	*d = decoded{}
	var etype uint16
	switch link {
	case capture.LinkEthernet:
		if len(data) < 14 {
			return decMalformed
		}
		etype, data = binary.BigEndian.Uint16(data[12:]), data[14:]
		for tags := 0; etype == 0x8100 || etype == 0x88a8 || etype == 0x9100; tags++ {
			if len(data) < 4 || tags == 4 {
				return decMalformed
			}
			etype, data = binary.BigEndian.Uint16(data[2:]), data[4:]
		}
	case capture.LinkLinuxSLL:
		if len(data) < 16 {
			return decMalformed
		}
		etype, data = binary.BigEndian.Uint16(data[14:]), data[16:]
	case capture.LinkLinuxSLL2:
		if len(data) < 20 {
			return decMalformed
		}
		etype, d.ifindex, data = binary.BigEndian.Uint16(data[0:]), binary.BigEndian.Uint32(data[4:]), data[20:]
	case capture.LinkNull, capture.LinkLoop:
		if len(data) < 4 {
			return decMalformed
		}
		// The family is in the writer's byte order (NULL) or network order
		// (LOOP); take whichever reading is a known family.
		fam := binary.LittleEndian.Uint32(data)
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(data)
		}
		switch fam {
		case 2:
			etype = 0x0800
		case 10, 24, 28, 30:
			etype = 0x86dd
		default:
			return decNotIP
		}
		data = data[4:]
	case capture.LinkRaw:
		if len(data) == 0 {
			return decMalformed
		}
		etype = 0x0800
		if data[0]>>4 == 6 {
			etype = 0x86dd
		}
	case capture.LinkIPv4:
		etype = 0x0800
	case capture.LinkIPv6:
		etype = 0x86dd
	default:
		return decNotIP
	}
	switch etype {
	case 0x0800:
		return decodeIPv4(data, d, false)
	case 0x86dd:
		return decodeIPv6(data, d, false)
	}
	return decNotIP
}

func decodeIPv4(b []byte, d *decoded, inner bool) decodeResult {
	if len(b) < 20 || b[0]>>4 != 4 {
		return decMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || len(b) < ihl {
		return decMalformed
	}
	src, dst := v4Addr(b[12:16]), v4Addr(b[16:20])
	proto := b[9]
	frag := binary.BigEndian.Uint16(b[6:])
	offset, more := frag&0x1fff, frag&0x2000 != 0
	if inner {
		d.qsrc.ip, d.qdst.ip, d.qproto = src, dst, proto
		if offset != 0 {
			return decMalformed
		}
		return decodeQuotedPorts(b[ihl:], d)
	}
	d.src.ip, d.dst.ip, d.proto = src, dst, proto
	d.ipID = uint32(binary.BigEndian.Uint16(b[4:]))
	d.fragment = offset != 0 || more
	d.laterFrag = offset != 0
	end := total
	if end > len(b) {
		end = len(b)
		d.snapCut = true
	}
	d.ipPayloadLen = total - ihl
	if d.laterFrag {
		return decOK
	}
	return decodeTransport(b[ihl:end], d)
}

// IPv6 extension headers the decoder walks.
const (
	ext6HopByHop = 0
	ext6Routing  = 43
	ext6Fragment = 44
	ext6AH       = 51
	ext6DestOpts = 60
	ext6NoNext   = 59
)

func decodeIPv6(b []byte, d *decoded, inner bool) decodeResult {
	if len(b) < 40 || b[0]>>4 != 6 {
		return decMalformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	var src, dst addr
	copy(src[:], b[8:24])
	copy(dst[:], b[24:40])
	next := b[6]
	end := 40 + plen
	if !inner {
		d.ipID = binary.BigEndian.Uint32(b) & 0xfffff
	}
	if plen == 0 && !inner { // jumbogram or bad: take what was captured
		end = len(b)
	}
	if end > len(b) {
		end = len(b)
		if !inner {
			d.snapCut = true
		}
	}
	p := b[40:end]
	fragment, later := false, false
	for hops := 0; ; hops++ {
		if hops == 8 {
			return decMalformed
		}
		switch next {
		case ext6HopByHop, ext6Routing, ext6DestOpts:
			if len(p) < 8 {
				return decMalformed
			}
			n := (int(p[1]) + 1) * 8
			if len(p) < n {
				return decMalformed
			}
			next, p = p[0], p[n:]
			continue
		case ext6AH:
			if len(p) < 8 {
				return decMalformed
			}
			n := (int(p[1]) + 2) * 4
			if len(p) < n {
				return decMalformed
			}
			next, p = p[0], p[n:]
			continue
		case ext6Fragment:
			if len(p) < 8 {
				return decMalformed
			}
			off := binary.BigEndian.Uint16(p[2:]) >> 3
			fragment, later = true, off != 0
			next, p = p[0], p[8:]
			if later {
				break
			}
			continue
		}
		break
	}
	if inner {
		d.qsrc.ip, d.qdst.ip, d.qproto = src, dst, next
		if later {
			return decMalformed
		}
		return decodeQuotedPorts(p, d)
	}
	d.src.ip, d.dst.ip, d.proto, d.v6 = src, dst, next, true
	d.fragment, d.laterFrag = fragment, later
	d.ipPayloadLen = len(p)
	if later || next == ext6NoNext {
		return decOK
	}
	return decodeTransport(p, d)
}

func decodeTransport(b []byte, d *decoded) decodeResult {
	switch d.proto {
	case protoTCP:
		if len(b) < 20 {
			if d.snapCut {
				d.proto = 0 // headers cut by the snap length: count only
				return decOK
			}
			return decMalformed
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			if off >= 20 && d.snapCut {
				off = len(b)
			} else {
				return decMalformed
			}
		}
		d.src.port = binary.BigEndian.Uint16(b[0:])
		d.dst.port = binary.BigEndian.Uint16(b[2:])
		d.seq = binary.BigEndian.Uint32(b[4:])
		d.ack = binary.BigEndian.Uint32(b[8:])
		d.tcpFlags = b[13]
		d.payload = b[off:]
	case protoUDP:
		if len(b) < 8 {
			if d.snapCut {
				d.proto = 0
				return decOK
			}
			return decMalformed
		}
		d.src.port = binary.BigEndian.Uint16(b[0:])
		d.dst.port = binary.BigEndian.Uint16(b[2:])
		ulen := int(binary.BigEndian.Uint16(b[4:]))
		if ulen < 8 && !d.fragment {
			return decMalformed
		}
		end := ulen
		if end > len(b) || d.fragment {
			if !d.fragment {
				d.snapCut = true // cut by the snap length, or lying: Packet tells which
			}
			end = len(b)
		}
		d.payload = b[8:end]
	case protoICMP, protoICMPv6:
		if len(b) < 8 {
			return decMalformed
		}
		d.icmpType, d.icmpCode = b[0], b[1]
		if isICMPError(d.proto, d.icmpType) {
			var r decodeResult
			if d.proto == protoICMP {
				r = decodeIPv4(b[8:], d, true)
			} else {
				r = decodeIPv6(b[8:], d, true)
			}
			d.quoted = r == decOK && (d.qproto == protoTCP || d.qproto == protoUDP)
		}
	}
	return decOK
}

// isICMPError reports ICMP types that quote an offending packet: destination
// unreachable, time exceeded, parameter problem (and ICMPv6's packet too big).
func isICMPError(proto, typ uint8) bool {
	if proto == protoICMP {
		return typ == 3 || typ == 11 || typ == 12
	}
	return typ >= 1 && typ <= 4
}

// decodeQuotedPorts reads the ports of the transport header quoted in an
// ICMP error: only its first 8 bytes are guaranteed.
func decodeQuotedPorts(b []byte, d *decoded) decodeResult {
	if len(b) < 4 {
		return decMalformed
	}
	d.qsrc.port = binary.BigEndian.Uint16(b[0:])
	d.qdst.port = binary.BigEndian.Uint16(b[2:])
	return decOK
}
