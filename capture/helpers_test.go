package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// byteOrder returns the order for big.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func byteOrder(big bool) order {
	if big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// pcapFile builds classic pcap captures in memory.
type pcapFile struct {
	o      order
	nano   bool
	buf    []byte
	ends   []int // end offset of each packet record
	hdrLen int
}

// newPcapFile writes a file header; linkField is the raw 32-bit link field.
func newPcapFile(big, nano bool, snap, linkField uint32) *pcapFile {
	f := &pcapFile{o: byteOrder(big), nano: nano, hdrLen: 16}
	magic := uint32(pcapMicro)
	if nano {
		magic = pcapNano
	}
	f.buf = f.o.AppendUint32(f.buf, magic)
	f.buf = f.o.AppendUint16(f.buf, 2)
	f.buf = f.o.AppendUint16(f.buf, 4)
	f.buf = f.o.AppendUint32(f.buf, 0) // thiszone
	f.buf = f.o.AppendUint32(f.buf, 0) // sigfigs
	f.buf = f.o.AppendUint32(f.buf, snap)
	f.buf = f.o.AppendUint32(f.buf, linkField)
	return f
}

// add appends a packet record; frac is µs or ns as the file says.
func (f *pcapFile) add(sec, frac uint32, data []byte, orig int) *pcapFile {
	f.buf = f.o.AppendUint32(f.buf, sec)
	f.buf = f.o.AppendUint32(f.buf, frac)
	f.buf = f.o.AppendUint32(f.buf, uint32(len(data)))
	f.buf = f.o.AppendUint32(f.buf, uint32(orig))
	if f.hdrLen == 24 {
		f.buf = append(f.buf, make([]byte, 8)...)
	}
	f.buf = append(f.buf, data...)
	f.ends = append(f.ends, len(f.buf))
	return f
}

// ngFile builds pcapng captures in memory.
type ngFile struct {
	o      order
	buf    []byte
	ends   []int // end offset of each packet block
	blocks []int // end offset of every block
}

func (f *ngFile) block(typ uint32, body []byte) *ngFile {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	f.buf = f.o.AppendUint32(f.buf, typ)
	f.buf = f.o.AppendUint32(f.buf, n)
	f.buf = append(f.buf, body...)
	f.buf = f.o.AppendUint32(f.buf, n)
	f.blocks = append(f.blocks, len(f.buf))
	return f
}

// shb starts a section in the given byte order.
func (f *ngFile) shb(big bool) *ngFile {
	f.o = byteOrder(big)
	var body []byte
	body = f.o.AppendUint32(body, byteOrderMagic)
	body = f.o.AppendUint16(body, 1)
	body = f.o.AppendUint16(body, 0)
	body = f.o.AppendUint64(body, ^uint64(0)) // section length unknown
	body = append(body, f.opt(4, []byte("msnaudit test"))...)
	body = append(body, f.opt(0, nil)...)
	return f.block(blockSHB, body)
}

func newNgFile(big bool) *ngFile { return new(ngFile).shb(big) }

// opt encodes one option, padded.
func (f *ngFile) opt(code uint16, v []byte) []byte {
	var b []byte
	b = f.o.AppendUint16(b, code)
	b = f.o.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (f *ngFile) idb(link uint16, snap uint32, opts ...[]byte) *ngFile {
	var body []byte
	body = f.o.AppendUint16(body, link)
	body = f.o.AppendUint16(body, 0)
	body = f.o.AppendUint32(body, snap)
	body = append(body, f.opt(2, []byte("eth0"))...) // if_name
	for _, o := range opts {
		body = append(body, o...)
	}
	if len(opts) > 0 {
		body = append(body, f.opt(0, nil)...)
	}
	return f.block(blockIDB, body)
}

func (f *ngFile) tsresol(v byte) []byte { return f.opt(optTSResol, []byte{v}) }

func (f *ngFile) tsoffset(sec int64) []byte {
	return f.opt(optTSOffset, f.o.AppendUint64(nil, uint64(sec)))
}

func (f *ngFile) epb(iface uint32, ts uint64, data []byte, orig int) *ngFile {
	var body []byte
	body = f.o.AppendUint32(body, iface)
	body = f.o.AppendUint32(body, uint32(ts>>32))
	body = f.o.AppendUint32(body, uint32(ts))
	body = f.o.AppendUint32(body, uint32(len(data)))
	body = f.o.AppendUint32(body, uint32(orig))
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = append(body, f.opt(1, []byte("comment"))...) // opt_comment
	body = append(body, f.opt(0, nil)...)
	f.block(blockEPB, body)
	f.ends = append(f.ends, len(f.buf))
	return f
}

func (f *ngFile) pb(iface uint16, ts uint64, data []byte, orig int) *ngFile {
	var body []byte
	body = f.o.AppendUint16(body, iface)
	body = f.o.AppendUint16(body, 0) // drops
	body = f.o.AppendUint32(body, uint32(ts>>32))
	body = f.o.AppendUint32(body, uint32(ts))
	body = f.o.AppendUint32(body, uint32(len(data)))
	body = f.o.AppendUint32(body, uint32(orig))
	body = append(body, data...)
	f.block(blockPB, body)
	f.ends = append(f.ends, len(f.buf))
	return f
}

func (f *ngFile) spb(data []byte, orig int) *ngFile {
	var body []byte
	body = f.o.AppendUint32(body, uint32(orig))
	body = append(body, data...)
	f.block(blockSPB, body)
	f.ends = append(f.ends, len(f.buf))
	return f
}

// isb appends an interface statistics block (skipped by the reader).
func (f *ngFile) isb(iface uint32) *ngFile {
	var body []byte
	body = f.o.AppendUint32(body, iface)
	body = f.o.AppendUint64(body, 0)
	return f.block(5, body)
}

// nrb appends a name resolution block with one IPv4 record.
func (f *ngFile) nrb() *ngFile {
	var body []byte
	rec := append([]byte{10, 0, 0, 1}, "host.example\x00"...)
	body = f.o.AppendUint16(body, 1)
	body = f.o.AppendUint16(body, uint16(len(rec)))
	body = append(body, rec...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = append(body, 0, 0, 0, 0) // nrb_record_end
	return f.block(4, body)
}

// payload returns n bytes identifying packet i.
func payload(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	if n >= 4 {
		binary.BigEndian.PutUint32(b, uint32(i))
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var w bytes.Buffer
	zw := gzip.NewWriter(&w)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}

// got is a packet copied out of the reader's buffer.
type got struct {
	Data   []byte
	Length int
	Time   int64
	Link   LinkType
	Iface  int
	Input  int
}

// drain reads s to its end, copying every packet; it returns the final error
// (io.EOF for a clean end).
func drain(t testing.TB, s Source) ([]got, error) {
	t.Helper()
	var out []got
	var p Packet
	for {
		err := s.Next(&p)
		if err != nil {
			if err2 := s.Next(&p); !errors.Is(err2, err) && err2 != err {
				t.Errorf("error not sticky: %v then %v", err, err2)
			}
			return out, err
		}
		out = append(out, got{bytes.Clone(p.Data), p.Length, p.Time, p.Link, p.Iface, p.Input})
	}
}

// readAll opens b with NewReader and drains it.
func readAll(t testing.TB, name string, b []byte) ([]got, error) {
	t.Helper()
	s, err := NewReader(name, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return drain(t, s)
}

// oneByteReader returns one byte per Read, like a slow pipe, and hides Len.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
