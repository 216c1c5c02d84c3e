package capture

import (
	"encoding/binary"
	"math/bits"
	"runtime/debug"
)

// pcap magic numbers as read little-endian from the first four bytes.
const (
	pcapMicro     = 0xa1b2c3d4 // microsecond timestamps
	pcapNano      = 0xa1b23c4d // nanosecond timestamps
	pcapKuznetzov = 0xa1b2cd34 // "modified" pcap: 24-byte record headers, µs
)

const pcapFileHeaderLen = 24

// isPcapMagic reports whether m (read little-endian) is a pcap magic in
// either byte order.
func isPcapMagic(m uint32) bool {
	switch m {
	case pcapMicro, pcapNano, pcapKuznetzov:
		return true
	}
	switch bits.ReverseBytes32(m) {
	case pcapMicro, pcapNano, pcapKuznetzov:
		return true
	}
	return false
}

// pcapReader reads the classic libpcap format.
type pcapReader struct {
	base
	swap    bool   // file is big-endian (fields read little-endian then swapped)
	fracMul int64  // 1000 for µs timestamps, 1 for ns
	hdrLen  int    // record header length: 16, or 24 for the modified format
	maxCap  uint32 // largest acceptable capture length
	link    LinkType
}

func (r *pcapReader) u32(b []byte) uint32 {
	v := binary.LittleEndian.Uint32(b)
	if r.swap {
		v = bits.ReverseBytes32(v)
	}
	return v
}

func (r *pcapReader) u16(b []byte) uint16 {
	v := binary.LittleEndian.Uint16(b)
	if r.swap {
		v = bits.ReverseBytes16(v)
	}
	return v
}

// newPcapReader reads the file header; b.in holds at least the magic.
func newPcapReader(b base) (*pcapReader, error) {
	r := &pcapReader{base: b, fracMul: 1000, hdrLen: 16}
	in := &r.in
	if err := in.fill(pcapFileHeaderLen); err != nil {
		return nil, r.readFail(err, 0, "the pcap file header", pcapFileHeaderLen)
	}
	h := in.buf[in.pos : in.pos+pcapFileHeaderLen]
	m := binary.LittleEndian.Uint32(h)
	if !isPcapMagic(m) {
		return nil, r.fail(0, nil, "not a pcap file (magic 0x%08x)", m)
	}
	if r.swap = m>>16 != 0xa1b2; r.swap {
		m = bits.ReverseBytes32(m)
	}
	switch m {
	case pcapNano:
		r.fracMul = 1
	case pcapKuznetzov:
		r.hdrLen = 24
	}
	if major, minor := r.u16(h[4:]), r.u16(h[6:]); major != 2 {
		return nil, r.fail(4, nil, "unsupported pcap version %d.%d", major, minor)
	}
	snap := r.u32(h[16:])
	// The upper 16 bits hold the FCS length and flag bits, not the type.
	r.link = LinkType(r.u32(h[20:]) & 0xffff)
	if !r.link.Supported() {
		return nil, r.fail(20, nil, "unsupported link type %d", uint32(r.link))
	}
	r.maxCap = capLimit(snap)
	in.advance(pcapFileHeaderLen)
	return r, nil
}

// capLimit is the largest capture length accepted for a snapshot length.
func capLimit(snap uint32) uint32 {
	if snap > defaultMaxCaplen {
		return min(snap, maxRecord)
	}
	return defaultMaxCaplen
}

// Next implements Source.
func (r *pcapReader) Next(p *Packet) (err error) {
	if r.err != nil {
		return r.err
	}
	if r.in.mapped {
		defer r.guard(&err, debug.SetPanicOnFault(true))
	}
	in := &r.in
	hl := r.hdrLen
	if in.end-in.pos < hl {
		if err := in.fill(hl); err != nil {
			if e := r.endOfInput(err); e != nil {
				return e
			}
			return r.readFail(err, in.off, "the record header of "+packetName(r.npkt+1), hl)
		}
	}
	capl := r.u32(in.buf[in.pos+8:])
	if capl > r.maxCap {
		return r.fail(in.off, nil, "%s claims capture length %d, more than the limit %d",
			packetName(r.npkt+1), capl, r.maxCap)
	}
	n := hl + int(capl)
	if in.end-in.pos < n {
		if err := in.fill(n); err != nil {
			return r.readFail(err, in.off, packetName(r.npkt+1), n)
		}
	}
	h := in.buf[in.pos : in.pos+16]
	p.Time = int64(r.u32(h[0:]))*1e9 + int64(r.u32(h[4:]))*r.fracMul
	p.Length = int(r.u32(h[12:]))
	p.Data = in.buf[in.pos+hl : in.pos+n : in.pos+n]
	p.Link = r.link
	p.Iface, p.Input, p.Multi = 0, 0, false
	in.advance(n)
	r.npkt++
	return nil
}

// Close implements Source.
func (r *pcapReader) Close() error { return r.close() }
