package capture

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"runtime/debug"
)

// pcapng block types (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0a0d0d0a // section header (palindromic: same in both orders)
	blockIDB = 1          // interface description
	blockPB  = 2          // packet (obsolete)
	blockSPB = 3          // simple packet
	blockEPB = 6          // enhanced packet

	byteOrderMagic = 0x1a2b3c4d
)

// Smallest legal total length of each block type.
const (
	minBlockLen = 12 // type, length, trailing length
	minSHBLen   = 28
	minIDBLen   = 20
	minEPBLen   = 32
	minPBLen    = 32
	minSPBLen   = 16
)

// IDB option codes.
const (
	optEnd      = 0
	optTSResol  = 9
	optTSOffset = 14
)

// ngIface is what a section's interface description block says.
type ngIface struct {
	link      LinkType
	supported bool
	snap      uint32
	maxCap    uint32
	off       int64 // byte offset of its IDB
	// Timestamp units to nanoseconds: ts*mul if mul != 0, else ts/div if
	// div != 0, else ts*1e9 >> shift (power-of-2 resolutions).
	mul, div uint64
	shift    uint
	tsOffset int64 // if_tsoffset in nanoseconds
}

func (f *ngIface) time(ts uint64) int64 {
	var ns uint64
	switch {
	case f.mul != 0:
		ns = ts * f.mul
	case f.div != 0:
		ns = ts / f.div
	default:
		hi, lo := bits.Mul64(ts, 1e9)
		ns = lo>>f.shift | hi<<(64-f.shift)
	}
	return int64(ns) + f.tsOffset
}

// pcapngReader reads the pcapng format.
type pcapngReader struct {
	base
	swap     bool // current section is big-endian
	ifaces   []ngIface
	lastTime int64 // time of the last timestamped packet, for simple packets
}

func (r *pcapngReader) u32(b []byte) uint32 {
	v := binary.LittleEndian.Uint32(b)
	if r.swap {
		v = bits.ReverseBytes32(v)
	}
	return v
}

func (r *pcapngReader) u16(b []byte) uint16 {
	v := binary.LittleEndian.Uint16(b)
	if r.swap {
		v = bits.ReverseBytes16(v)
	}
	return v
}

func (r *pcapngReader) u64(b []byte) uint64 {
	v := binary.LittleEndian.Uint64(b)
	if r.swap {
		v = bits.ReverseBytes64(v)
	}
	return v
}

// Close implements Source.
func (r *pcapngReader) Close() error { return r.close() }

// newPcapngReader reads the first section header block.
func newPcapngReader(b base) (*pcapngReader, error) {
	r := &pcapngReader{base: b, ifaces: make([]ngIface, 0, 4)}
	if err := r.readSHB(); err != nil {
		return nil, err
	}
	return r, nil
}

// readSHB reads the section header block at the current position: it sets
// the byte order and forgets the previous section's interfaces.
func (r *pcapngReader) readSHB() error {
	in := &r.in
	off := in.off
	if err := in.fill(12); err != nil {
		return r.readFail(err, off, "a section header block", 12)
	}
	b := in.buf[in.pos:]
	switch m := binary.LittleEndian.Uint32(b[8:]); m {
	case byteOrderMagic:
		r.swap = false
	case bits.ReverseBytes32(byteOrderMagic):
		r.swap = true
	default:
		return r.fail(off+8, nil, "section header block has a bad byte-order magic 0x%08x", m)
	}
	blen := r.u32(b[4:])
	if err := r.checkLen(off, blockSHB, blen, minSHBLen); err != nil {
		return err
	}
	n := int(blen)
	if err := in.fill(n); err != nil {
		return r.readFail(err, off, "a section header block", n)
	}
	b = in.buf[in.pos : in.pos+n]
	if err := r.checkTrailer(off, b); err != nil {
		return err
	}
	if major, minor := r.u16(b[12:]), r.u16(b[14:]); major != 1 {
		return r.fail(off+12, nil, "unsupported pcapng version %d.%d", major, minor)
	}
	r.ifaces = r.ifaces[:0]
	in.advance(n)
	return nil
}

// checkLen validates a block's total length.
func (r *pcapngReader) checkLen(off int64, typ, blen, minLen uint32) error {
	switch {
	case blen%4 != 0:
		return r.fail(off+4, nil, "%s has length %d, not a multiple of 4", blockName(typ), blen)
	case blen < minLen:
		return r.fail(off+4, nil, "%s has length %d, less than the minimum %d", blockName(typ), blen, minLen)
	case blen > maxRecord:
		return r.fail(off+4, nil, "%s has length %d, more than the limit %d", blockName(typ), blen, maxRecord)
	}
	return nil
}

// checkTrailer compares a whole block's trailing length with the leading one.
func (r *pcapngReader) checkTrailer(off int64, b []byte) error {
	if t := r.u32(b[len(b)-4:]); int(t) != len(b) {
		return r.fail(off+int64(len(b))-4, nil, "%s has trailing length %d, but leading length %d",
			blockName(r.u32(b)), t, len(b))
	}
	return nil
}

func blockName(typ uint32) string {
	switch typ {
	case blockSHB:
		return "section header block"
	case blockIDB:
		return "interface description block"
	case blockPB:
		return "packet block"
	case blockSPB:
		return "simple packet block"
	case blockEPB:
		return "enhanced packet block"
	}
	return fmt.Sprintf("block of type 0x%08x", typ)
}

func minLenOf(typ uint32) uint32 {
	switch typ {
	case blockIDB:
		return minIDBLen
	case blockPB:
		return minPBLen
	case blockSPB:
		return minSPBLen
	case blockEPB:
		return minEPBLen
	}
	return minBlockLen
}

// what names the block being read for a truncation message.
func (r *pcapngReader) what(typ uint32, known bool) string {
	if known {
		switch typ {
		case blockEPB, blockSPB, blockPB:
			return packetName(r.npkt + 1)
		}
		name := blockName(typ)
		if name[0] == 'i' {
			return "an " + name + " " + r.where()
		}
		return "a " + name + " " + r.where()
	}
	return "a block header " + r.where()
}

// where places the current block relative to the packets delivered.
func (r *pcapngReader) where() string {
	if r.npkt == 0 {
		return "before the first packet"
	}
	return "after " + packetName(r.npkt)
}

// Next implements Source.
func (r *pcapngReader) Next(p *Packet) (err error) {
	if r.err != nil {
		return r.err
	}
	if r.in.mapped {
		defer r.guard(&err, debug.SetPanicOnFault(true))
	}
	in := &r.in
	for {
		off := in.off
		if in.end-in.pos < 8 {
			if err := in.fill(8); err != nil {
				if e := r.endOfInput(err); e != nil {
					return e
				}
				return r.readFail(err, off, r.what(0, false), 8)
			}
		}
		typ := binary.LittleEndian.Uint32(in.buf[in.pos:])
		if typ == blockSHB {
			if err := r.readSHB(); err != nil {
				return err
			}
			continue
		}
		typ = r.u32(in.buf[in.pos:])
		blen := r.u32(in.buf[in.pos+4:])
		if err := r.checkLen(off, typ, blen, minLenOf(typ)); err != nil {
			return err
		}
		n := int(blen)
		if in.end-in.pos < n {
			if err := in.fill(n); err != nil {
				return r.readFail(err, off, r.what(typ, true), n)
			}
		}
		b := in.buf[in.pos : in.pos+n : in.pos+n]
		if t := r.u32(b[n-4:]); t != blen {
			return r.checkTrailer(off, b)
		}
		switch typ {
		case blockEPB:
			if err := r.packet(p, off, b, r.u32(b[8:]), 28); err != nil {
				return err
			}
			in.advance(n)
			return nil
		case blockPB:
			if err := r.packet(p, off, b, uint32(r.u16(b[8:])), 28); err != nil {
				return err
			}
			in.advance(n)
			return nil
		case blockSPB:
			if err := r.simplePacket(p, off, b); err != nil {
				return err
			}
			in.advance(n)
			return nil
		case blockIDB:
			if err := r.readIDB(off, b); err != nil {
				return err
			}
		}
		// Other blocks (name resolution, statistics, decryption secrets,
		// custom, unknown) carry no packets: skip them.
		in.advance(n)
	}
}

// packet fills p from an enhanced (or obsolete) packet block b at off whose
// interface is id and whose data starts at b[data:], after a 20-byte header
// of timestamp high/low, captured and original length at b[data-16:].
func (r *pcapngReader) packet(p *Packet, off int64, b []byte, id uint32, data int) error {
	if id >= uint32(len(r.ifaces)) {
		return r.fail(off+8, nil, "%s is on unknown interface %d (the section describes %d)",
			packetName(r.npkt+1), id, len(r.ifaces))
	}
	f := &r.ifaces[id]
	capl := r.u32(b[data-8:])
	if capl > uint32(len(b)-data-4) {
		return r.fail(off+int64(data)-8, nil, "%s claims capture length %d, more than its block holds",
			packetName(r.npkt+1), capl)
	}
	if err := r.checkPacket(f, off, id, capl); err != nil {
		return err
	}
	ts := uint64(r.u32(b[data-16:]))<<32 | uint64(r.u32(b[data-12:]))
	r.lastTime = f.time(ts)
	p.Time = r.lastTime
	p.Length = int(r.u32(b[data-4:]))
	p.Data = b[data : data+int(capl) : data+int(capl)]
	p.Link = f.link
	p.Iface, p.Input, p.Multi = int(id), 0, len(r.ifaces) > 1
	r.npkt++
	return nil
}

// checkPacket checks a packet of capture length capl against its interface.
func (r *pcapngReader) checkPacket(f *ngIface, off int64, id, capl uint32) error {
	if !f.supported {
		return r.fail(f.off+8, nil, "unsupported link type %d (interface %d, used by %s at byte offset %d)",
			uint32(f.link), id, packetName(r.npkt+1), off)
	}
	if capl > f.maxCap {
		return r.fail(off, nil, "%s claims capture length %d, more than the limit %d",
			packetName(r.npkt+1), capl, f.maxCap)
	}
	return nil
}

// simplePacket fills p from a simple packet block b at off: interface 0, no
// timestamp (the previous packet's time is used).
func (r *pcapngReader) simplePacket(p *Packet, off int64, b []byte) error {
	if len(r.ifaces) == 0 {
		return r.fail(off, nil, "%s is a simple packet block, but the section describes no interface",
			packetName(r.npkt+1))
	}
	f := &r.ifaces[0]
	orig := r.u32(b[8:])
	capl := min(orig, uint32(len(b)-16))
	if f.snap != 0 {
		capl = min(capl, f.snap)
	}
	if err := r.checkPacket(f, off, 0, capl); err != nil {
		return err
	}
	p.Time = r.lastTime
	p.Length = int(orig)
	p.Data = b[12 : 12+int(capl) : 12+int(capl)]
	p.Link = f.link
	p.Iface, p.Input, p.Multi = 0, 0, len(r.ifaces) > 1
	r.npkt++
	return nil
}

// readIDB adds the interface described by block b at off.
func (r *pcapngReader) readIDB(off int64, b []byte) error {
	f := ngIface{
		link: LinkType(r.u16(b[8:])),
		snap: r.u32(b[12:]),
		off:  off,
		mul:  1000, // default resolution: microseconds
	}
	f.supported = f.link.Supported()
	f.maxCap = capLimit(f.snap)
	id := len(r.ifaces)
	// Options may not repeat; if they do, the first counts (as in Wireshark).
	var haveResol, haveOffset bool
	opts := b[16 : len(b)-4]
	for len(opts) > 0 {
		o := off + int64(len(b)-4-len(opts))
		if len(opts) < 4 {
			return r.fail(o, nil, "interface %d has a malformed option", id)
		}
		code, olen := r.u16(opts), int(r.u16(opts[2:]))
		if code == optEnd {
			break
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return r.fail(o, nil, "interface %d has option %d of length %d, past the end of its block", id, code, olen)
		}
		v := opts[4 : 4+olen]
		switch code {
		case optTSResol:
			if haveResol {
				break
			}
			haveResol = true
			if olen != 1 {
				return r.fail(o, nil, "interface %d has an if_tsresol option of length %d, want 1", id, olen)
			}
			if err := f.setResolution(v[0]); err != nil {
				return r.fail(o, nil, "interface %d has %v", id, err)
			}
		case optTSOffset:
			if haveOffset {
				break
			}
			haveOffset = true
			if olen != 8 {
				return r.fail(o, nil, "interface %d has an if_tsoffset option of length %d, want 8", id, olen)
			}
			f.tsOffset = int64(r.u64(v)) * 1e9
		}
		opts = opts[4+padded:]
	}
	r.ifaces = append(r.ifaces, f)
	return nil
}

// setResolution applies an if_tsresol value: 10^-v, or 2^-(v&0x7f) when the
// high bit is set.
func (f *ngIface) setResolution(v byte) error {
	f.mul, f.div, f.shift = 0, 0, 0
	if v&0x80 != 0 {
		n := uint(v & 0x7f)
		if n > 63 {
			return fmt.Errorf("an unsupported if_tsresol 2^-%d", n)
		}
		f.shift = n
		return nil
	}
	n := int(v)
	if n > 28 { // 10^(n-9) would not fit 64 bits
		return fmt.Errorf("an unsupported if_tsresol 10^-%d", n)
	}
	p := uint64(1)
	for range abs(9 - n) {
		p *= 10
	}
	if n <= 9 {
		f.mul = p
	} else {
		f.div = p
	}
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
