package classify

import (
	"encoding/binary"
	"time"

	"github.com/msnaudit/msnaudit/capture"
)

// A gateway captured on two interfaces (a pcapng of both sides, several
// watched interfaces, Linux's "any") shows each packet it forwards twice:
// coming in on one interface and going out on the other. It is one packet
// of one flow: the copy seen on another interface within copyWindow is
// counted (Stats.Copies) and not fed to the flow again. Both copies have the
// flow's key (NAT aside, which makes them two flows), so the flow's shard
// finds them, in packet order, with a small table of the packets it saw
// last.

const (
	copySlots  = 1 << 10 // per shard
	copyWindow = int64(500 * time.Millisecond)
)

// copySlot is a packet a shard saw: what a router leaves unchanged in it,
// hashed, and where and when it was seen.
type copySlot struct {
	key, iface uint64
	at         int64
}

// ifaceOf names the interface a packet was captured on: its input, its
// pcapng interface, and for Linux cooked v2 frames the interface in them;
// noIface for a packet of a source with one interface, which shows no
// copies (and whose packets need not be remembered).
func ifaceOf(p *capture.Packet, d *decoded) uint64 {
	if !p.Multi && p.Link != capture.LinkLinuxSLL2 {
		return noIface
	}
	return uint64(p.Input)<<48 ^ uint64(p.Iface)<<32 ^ uint64(d.ifindex)
}

const noIface = ^uint64(0)

// copyKey hashes what forwarding leaves unchanged (not the TTL or hop
// limit, not the IP checksum, not the link header): addresses, protocol,
// IP identification or flow label, length, ports, TCP sequence numbers
// and flags, ICMP type and code.
func copyKey(d *decoded) uint64 {
	h := mix(binary.LittleEndian.Uint64(d.src.ip[:8]) ^ binary.LittleEndian.Uint64(d.dst.ip[:8])<<1)
	h = mix(h ^ binary.LittleEndian.Uint64(d.src.ip[8:]))
	h = mix(h ^ binary.LittleEndian.Uint64(d.dst.ip[8:]))
	h = mix(h ^ uint64(d.src.port)<<48 ^ uint64(d.dst.port)<<32 ^ uint64(d.ipID)<<8 ^ uint64(d.proto))
	h = mix(h ^ uint64(d.seq)<<32 ^ uint64(d.ack))
	return mix(h ^ uint64(d.ipPayloadLen)<<16 ^ uint64(d.tcpFlags)<<8 ^ uint64(d.icmpType)<<4 ^ uint64(d.icmpCode))
}

func mix(x uint64) uint64 {
	x *= 0xbf58476d1ce4e5b9
	return x ^ x>>31
}

// isCopy reports whether the packet is a copy of one the shard saw on
// another interface within the window, and remembers it when it is not.
func (s *shard) isCopy(d *decoded, iface uint64, ts int64) bool {
	if iface == noIface {
		return false
	}
	if s.copies == nil {
		s.copies = make([]copySlot, copySlots)
	}
	k := copyKey(d)
	c := &s.copies[k&(copySlots-1)]
	if c.key == k && c.iface != iface && ts-c.at <= copyWindow {
		*c = copySlot{} // a third copy is another packet's
		s.copiesSeen++
		return true
	}
	*c = copySlot{key: k, iface: iface, at: ts}
	return false
}
