package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// PcapngWriter writes packets as a pcapng section: one Interface
// Description Block per interface (link type, snap length, if_name,
// nanosecond if_tsresol) and an Enhanced Packet Block per packet. It
// allocates nothing per packet. Errors are sticky.
type PcapngWriter struct {
	w      *bufio.Writer
	ifaces int
	err    error
	hdr    [28]byte
}

// NewPcapngWriter writes the section header and the interface blocks.
// Packet.Iface indexes ifaces.
func NewPcapngWriter(w io.Writer, ifaces []Interface) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: bufio.NewWriterSize(w, 1<<20), ifaces: len(ifaces)}
	le := binary.LittleEndian
	// Section Header Block with shb_userappl.
	shb := le.AppendUint32(nil, 0x0A0D0D0A)
	shb = le.AppendUint32(shb, 0) // length, set below
	shb = le.AppendUint32(shb, 0x1A2B3C4D)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0)) // section length unknown
	shb = appendOption(shb, 4, []byte("msnaudit"))
	shb = appendOption(shb, 0, nil)
	pw.block(shb)
	for _, ifc := range ifaces {
		idb := le.AppendUint32(nil, 1)
		idb = le.AppendUint32(idb, 0)
		idb = le.AppendUint16(idb, uint16(ifc.Link))
		idb = le.AppendUint16(idb, 0)
		idb = le.AppendUint32(idb, uint32(ifc.SnapLen))
		idb = appendOption(idb, 2, []byte(ifc.Name)) // if_name
		idb = appendOption(idb, 9, []byte{9})        // if_tsresol: nanoseconds
		idb = appendOption(idb, 0, nil)
		pw.block(idb)
	}
	if pw.err != nil {
		return nil, pw.err
	}
	return pw, nil
}

// block finishes a block (its two length fields) and writes it.
func (pw *PcapngWriter) block(b []byte) {
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	if pw.err == nil {
		_, pw.err = pw.w.Write(b)
	}
}

func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

var zeros [4]byte

// WritePacket writes one Enhanced Packet Block.
func (pw *PcapngWriter) WritePacket(p *Packet) error {
	if pw.err != nil {
		return pw.err
	}
	if p.Iface < 0 || p.Iface >= pw.ifaces {
		return fmt.Errorf("pcapng: packet of interface %d, the section has %d", p.Iface, pw.ifaces)
	}
	pad := (4 - len(p.Data)%4) % 4
	total := uint32(32 + len(p.Data) + pad)
	le := binary.LittleEndian
	h := pw.hdr[:]
	le.PutUint32(h[0:], 6)
	le.PutUint32(h[4:], total)
	le.PutUint32(h[8:], uint32(p.Iface))
	le.PutUint32(h[12:], uint32(uint64(p.Time)>>32))
	le.PutUint32(h[16:], uint32(p.Time))
	le.PutUint32(h[20:], uint32(len(p.Data)))
	le.PutUint32(h[24:], uint32(max(p.Length, len(p.Data))))
	if _, pw.err = pw.w.Write(h); pw.err != nil {
		return pw.err
	}
	if _, pw.err = pw.w.Write(p.Data); pw.err != nil {
		return pw.err
	}
	le.PutUint32(h[0:], total)
	if _, pw.err = pw.w.Write(zeros[:pad]); pw.err != nil {
		return pw.err
	}
	_, pw.err = pw.w.Write(h[:4])
	return pw.err
}

// Flush writes what is buffered.
func (pw *PcapngWriter) Flush() error {
	if pw.err != nil {
		return pw.err
	}
	pw.err = pw.w.Flush()
	return pw.err
}
