package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const t0 = 1700000000 // a Unix time in seconds used by the tests

func TestPcap(t *testing.T) {
	tests := []struct {
		name      string
		big, nano bool
		linkField uint32
		wantLink  LinkType
		frac      uint32
		wantFrac  int64
	}{
		{"little-endian µs", false, false, 1, LinkEthernet, 123456, 123456000},
		{"big-endian µs", true, false, 1, LinkEthernet, 123456, 123456000},
		{"little-endian ns", false, true, 101, LinkRaw, 123456789, 123456789},
		{"big-endian ns", true, true, 276, LinkLinuxSLL2, 999999999, 999999999},
		{"fcs bits in link field", false, false, 0x1<<26 | 0x4<<28 | 1, LinkEthernet, 1, 1000},
		{"fcs bits big-endian", true, true, 0x2<<28 | 113, LinkLinuxSLL, 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPcapFile(tt.big, tt.nano, 65535, tt.linkField)
			var want []got
			for i := range 5 {
				data := payload(i, 40+i*100)
				f.add(t0+uint32(i), tt.frac, data, len(data)+i)
				want = append(want, got{data, len(data) + i, int64(t0+i)*1e9 + tt.wantFrac, tt.wantLink, 0, 0})
			}
			pkts, err := readAll(t, "x.pcap", f.buf)
			if err != io.EOF {
				t.Fatalf("final error %v, want io.EOF", err)
			}
			if !reflect.DeepEqual(pkts, want) {
				t.Errorf("got %+v\nwant %+v", pkts, want)
			}
		})
	}
}

func TestPcapKuznetzov(t *testing.T) {
	f := newPcapFile(false, false, 65535, 1)
	f.hdrLen = 24
	binaryLE := byteOrder(false)
	binaryLE.PutUint32(f.buf, pcapKuznetzov)
	f.add(t0, 5, payload(1, 60), 60)
	pkts, err := readAll(t, "k.pcap", f.buf)
	if err != io.EOF || len(pkts) != 1 || !bytes.Equal(pkts[0].Data, payload(1, 60)) || pkts[0].Time != t0*1e9+5000 {
		t.Fatalf("got %+v, %v", pkts, err)
	}
}

// multiNg builds a pcapng with several interfaces, link types, timestamp
// resolutions, block kinds and a second section in the other byte order.
func multiNg(big bool) (*ngFile, []got) {
	f := newNgFile(big)
	f.idb(1, 0)                                                           // 0: Ethernet, µs
	f.idb(101, 65535, f.tsresol(9))                                       // 1: raw, ns
	f.idb(113, 262144, f.tsresol(0x80|10))                                // 2: SLL, 2^-10 s
	f.idb(228, 1500, f.tsresol(3), f.tsoffset(100))                       // 3: IPv4, ms, +100 s
	f.idb(229, 0, f.tsresol(12), f.tsoffset(-1000))                       // 4: IPv6, ps, -1000 s
	f.idb(147, 0)                                                         // 5: unsupported, unused
	f.idb(276, 0, f.tsresol(0x80|9), f.opt(13, []byte{4}), f.opt(0, nil)) // 6: SLL2, 2^-9 s, fcslen
	var want []got
	add := func(data []byte, orig int, tm int64, link LinkType, iface int) {
		want = append(want, got{data, orig, tm, link, iface, 0})
	}
	d := payload(0, 60)
	f.epb(0, t0*1e6+123456, d, 60)
	add(d, 60, t0*1e9+123456000, LinkEthernet, 0)
	f.nrb()
	d = payload(1, 61)
	f.epb(1, t0*1e9+123456789, d, 1000)
	add(d, 1000, t0*1e9+123456789, LinkRaw, 1)
	d = payload(2, 62)
	f.epb(2, t0<<10|512, d, 62)
	add(d, 62, t0*1e9+5e8, LinkLinuxSLL, 2)
	d = payload(3, 63)
	f.epb(3, t0*1e3+7, d, 63)
	add(d, 63, (t0+100)*1e9+7e6, LinkIPv4, 3)
	f.isb(0)
	d = payload(4, 64)
	f.epb(4, 1000_123456789012, d, 64)
	add(d, 64, 123456789, LinkIPv6, 4)
	d = payload(5, 65)
	f.spb(d, 65) // no timestamp: the previous packet's
	add(d, 65, 123456789, LinkEthernet, 0)
	d = payload(6, 66)
	f.pb(1, t0*1e9+1, d, 66)
	add(d, 66, t0*1e9+1, LinkRaw, 1)
	d = payload(7, 0)
	f.epb(6, t0<<9|1, d, 0)
	add(d, 0, t0*1e9+1953125, LinkLinuxSLL2, 6)
	f.block(0x80000001, []byte("custom local block"))
	// A new section in the other byte order forgets the interfaces.
	f.shb(!big)
	f.idb(108, 64)
	d = payload(8, 64)
	f.epb(0, t0*1e6, d, 1514)
	add(d, 1514, t0*1e9, LinkLoop, 0)
	d = payload(9, 30)
	f.spb(d[:30], 1514) // capture length: min(orig, snaplen 64, block)
	add(append(d[:30:30], 0, 0), 1514, t0*1e9, LinkLoop, 0)
	return f, want
}

func TestPcapng(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			f, want := multiNg(big)
			pkts, err := readAll(t, "x.pcapng", f.buf)
			if err != io.EOF {
				t.Fatalf("final error %v, want io.EOF", err)
			}
			if len(pkts) != len(want) {
				t.Fatalf("got %d packets, want %d", len(pkts), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(pkts[i], want[i]) {
					t.Errorf("packet %d:\n got %+v\nwant %+v", i+1, pkts[i], want[i])
				}
			}
		})
	}
}

func TestHeaderOnly(t *testing.T) {
	ng := newNgFile(false).idb(1, 0).isb(0)
	for name, b := range map[string][]byte{
		"pcap":        newPcapFile(false, false, 0, 1).buf,
		"pcapng":      newNgFile(true).buf,
		"pcapng+idb":  ng.buf,
		"pcap.gz":     gz(t, newPcapFile(true, true, 0, 1).buf),
		"pcapng+2shb": append(newNgFile(false).buf, newNgFile(true).buf...),
	} {
		pkts, err := readAll(t, name, b)
		if err != io.EOF || len(pkts) != 0 {
			t.Errorf("%s: got %d packets, %v; want none, io.EOF", name, len(pkts), err)
		}
	}
}

func TestGzip(t *testing.T) {
	ng, _ := multiNg(false)
	pc := newPcapFile(true, true, 0, 1).add(t0, 1, payload(1, 100), 100).add(t0, 2, payload(2, 1000), 1000)
	for name, plain := range map[string][]byte{"x.pcapng.gz": ng.buf, "x.pcap.gz": pc.buf} {
		t.Run(name, func(t *testing.T) {
			wantPkts, _ := readAll(t, name, plain)
			pkts, err := readAll(t, name, gz(t, plain))
			if err != io.EOF || !reflect.DeepEqual(pkts, wantPkts) {
				t.Fatalf("got %d packets, %v; want %d", len(pkts), err, len(wantPkts))
			}
			// Concatenated gzip members are one stream.
			b := gz(t, plain[:30])
			b = append(b, gz(t, plain[30:])...)
			pkts, err = readAll(t, name, b)
			if err != io.EOF || !reflect.DeepEqual(pkts, wantPkts) {
				t.Fatalf("multi-member: got %d packets, %v; want %d", len(pkts), err, len(wantPkts))
			}
		})
	}

	// Errors in compressed input count decompressed bytes and say so.
	bad := append(bytes.Clone(pc.buf), 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1, 0, 0, 0)
	_, err := readAll(t, "bad.pcap.gz", gz(t, bad))
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Offset != int64(len(pc.buf)) || !fe.Decompressed ||
		!strings.Contains(err.Error(), fmt.Sprintf("at byte offset %d (decompressed)", len(pc.buf))) {
		t.Errorf("got %v", err)
	}
	// A corrupt gzip header.
	_, err = readAll(t, "bad.gz", []byte{0x1f, 0x8b, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "bad.gz: bad gzip header") {
		t.Errorf("bad gzip header: got %v", err)
	}
	// Corrupt compressed data: an error, not a panic.
	z := gz(t, ng.buf)
	z[len(z)/2] ^= 0xff
	if _, err = readAll(t, "corrupt.gz", z); err == io.EOF || err == nil {
		t.Errorf("corrupt gzip data: got %v", err)
	}
	// Cut compressed data: ErrTruncated, earlier packets delivered.
	z = gz(t, ng.buf)
	pkts, err := readAll(t, "cut.gz", z[:len(z)-20])
	if !errors.Is(err, ErrTruncated) || len(pkts) == 0 {
		t.Errorf("cut gzip: got %d packets, %v", len(pkts), err)
	}
}

// TestSlowReader reads through a reader that returns one byte at a time, as
// standard input or a pipe may.
func TestSlowReader(t *testing.T) {
	ng, want := multiNg(true)
	for name, b := range map[string][]byte{"ng": ng.buf, "ng.gz": gz(t, ng.buf)} {
		s, err := NewReader("-", oneByteReader{bytes.NewReader(b)})
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := drain(t, s)
		if err != io.EOF || !reflect.DeepEqual(pkts, want) {
			t.Errorf("%s: got %d packets, %v", name, len(pkts), err)
		}
	}
}

// TestLargePackets checks records larger than the buffer and many packets
// crossing buffer refills.
func TestLargePackets(t *testing.T) {
	f := newPcapFile(false, true, 64<<20, 1)
	ng := newNgFile(false).idb(1, 64<<20)
	sizes := []int{0, 1, defaultBufSize - 16, 3 << 20, 7, defaultBufSize + 1, 65535}
	for i := range 3000 {
		sizes = append(sizes, 1+i%1600)
	}
	for i, n := range sizes {
		f.add(t0, uint32(i), payload(i, n), n)
		ng.epb(0, uint64(i), payload(i, n), n)
	}
	for name, b := range map[string][]byte{"big.pcap": f.buf, "big.pcapng": ng.buf} {
		// Through an io.Reader without Len, so the 1 MiB buffer is used.
		s, err := NewReader(name, io.MultiReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := drain(t, s)
		if err != io.EOF || len(pkts) != len(sizes) {
			t.Fatalf("%s: got %d packets, %v", name, len(pkts), err)
		}
		for i, p := range pkts {
			if !bytes.Equal(p.Data, payload(i, sizes[i])) {
				t.Fatalf("%s: packet %d data differs", name, i+1)
			}
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ng, want := multiNg(false)
	for _, p := range []string{write("a.pcapng", ng.buf), write("a.pcapng.gz", gz(t, ng.buf))} {
		s, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := drain(t, s)
		if err != io.EOF || !reflect.DeepEqual(pkts, want) {
			t.Errorf("%s: got %d packets, %v", p, len(pkts), err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		var pk Packet
		if err := s.Next(&pk); err == nil || err == io.EOF {
			t.Errorf("Next after Close: %v", err)
		}
	}

	// Standard input.
	in := write("stdin.pcapng", gz(t, ng.buf))
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	s, err := Open("-")
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := drain(t, s)
	if err != io.EOF || !reflect.DeepEqual(pkts, want) {
		t.Errorf("stdin: got %d packets, %v", len(pkts), err)
	}
	s.Close()

	// Missing file and directory: the error names the file.
	for _, p := range []string{filepath.Join(dir, "missing.pcap"), dir} {
		s, err := Open(p)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s): no error", p)
			continue
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("Open(%s): error %q does not name the file", p, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v is not os.ErrNotExist", err)
	}
	// Bad content through Open.
	_, err = Open(write("empty.pcap", nil))
	if err == nil || !strings.Contains(err.Error(), "empty.pcap: empty file, no capture header at byte offset 0") {
		t.Errorf("empty file: %v", err)
	}
}

// TestErrors checks each kind of bad input: the error is a *FormatError whose
// message names the file, says what is wrong and gives the right offset.
func TestErrors(t *testing.T) {
	pc := func() *pcapFile { return newPcapFile(false, false, 65535, 1).add(t0, 0, payload(0, 10), 10) }
	ng := func() *ngFile { return newNgFile(false).idb(1, 0).epb(0, 0, payload(0, 10), 10) }
	ngBE := func() *ngFile { return newNgFile(true).idb(1, 0).epb(0, 0, payload(0, 10), 10) }
	pcEnd := len(pc().buf)
	ngEnd := len(ng().buf)
	epbStart := len(newNgFile(false).idb(1, 0).buf)
	le := byteOrder(false)
	tests := []struct {
		name    string
		b       []byte
		off     int64
		msg     string
		packets int // packets delivered before the error
		trunc   bool
	}{
		{"empty", nil, 0, "empty file, no capture header", 0, false},
		{"short", []byte{0xd4, 0xc3}, 0, "not a pcap or pcapng file (only 2 bytes)", 0, false},
		{"text", []byte("hello, world\n"), 0, "not a pcap or pcapng file (magic 0x68656c6c)", 0, false},
		{"pcap header cut", pc().buf[:20], 0, "capture is cut short inside the pcap file header", 0, true},
		{"pcap version", func() []byte { b := pc().buf; le.PutUint16(b[4:], 3); return b }(),
			4, "unsupported pcap version 3.4", 0, false},
		{"pcap link", newPcapFile(true, false, 0, 147).buf, 20, "unsupported link type 147", 0, false},
		{"pcap caplen", append(pc().buf, newPcapFile(false, false, 0, 1).add(0, 0, make([]byte, 300000), 1).buf[24:]...),
			int64(pcEnd), "packet 2 claims capture length 300000, more than the limit 262144", 1, false},
		{"pcap cut in header", pc().add(0, 0, nil, 0).buf[:pcEnd+10], int64(pcEnd),
			"capture is cut short inside the record header of packet 2", 1, true},
		{"pcap cut in data", pc().add(0, 0, make([]byte, 100), 100).buf[:pcEnd+50], int64(pcEnd),
			"capture is cut short inside packet 2 (50 of 116 bytes present)", 1, true},
		{"pcapng bad bom", func() []byte { b := ng().buf; b[8] = 0; return b }(), 8,
			"section header block has a bad byte-order magic 0x1a2b3c00", 0, false},
		{"pcapng version", func() []byte { b := ngBE().buf; b[13] = 2; return b }(), 12,
			"unsupported pcapng version 2.0", 0, false},
		{"pcapng shb cut", ng().buf[:20], 0, "capture is cut short inside a section header block", 0, true},
		{"block length not multiple of 4", func() []byte { b := ng().add2(6, 33); return b }(), int64(ngEnd) + 4,
			"enhanced packet block has length 33, not a multiple of 4", 1, false},
		{"block too short", ng().add2(1, 16), int64(ngEnd) + 4,
			"interface description block has length 16, less than the minimum 20", 1, false},
		{"block too long", ng().add2(0x0bad, 100<<20), int64(ngEnd) + 4,
			"block of type 0x00000bad has length 104857600, more than the limit 67108864", 1, false},
		{"trailer mismatch", func() []byte { b := ng().buf; b[len(b)-4]++; return b }(), int64(ngEnd) - 4,
			"enhanced packet block has trailing length", 0, false},
		{"unknown interface", ng().epb(3, 0, nil, 0).buf, int64(ngEnd) + 8,
			"packet 2 is on unknown interface 3 (the section describes 1)", 1, false},
		{"interface of previous section", append(ng().buf, newNgFile(true).epb(0, 0, nil, 0).buf...),
			int64(ngEnd+len(newNgFile(true).buf)) + 8, "packet 2 is on unknown interface 0 (the section describes 0)", 1, false},
		{"unsupported link used", newNgFile(false).idb(1, 0).idb(147, 0).epb(0, 0, nil, 0).epb(1, 0, nil, 0).buf,
			-1, "unsupported link type 147 (interface 1, used by packet 2 at byte offset", 1, false},
		{"epb caplen past block", func() []byte { f := ng(); le.PutUint32(f.buf[epbStart+20:], 29); return f.buf }(),
			int64(epbStart) + 20, "packet 1 claims capture length 29, more than its block holds", 0, false},
		{"spb without idb", newNgFile(false).spb(nil, 0).buf, -1,
			"packet 1 is a simple packet block, but the section describes no interface", 0, false},
		{"bad tsresol", newNgFile(false).idb(1, 0, newNgFile(false).tsresol(0x80|64)).buf, -1,
			"interface 0 has an unsupported if_tsresol 2^-64", 0, false},
		{"option past block", func() []byte {
			f := newNgFile(false)
			o := f.opt(9, []byte{6})
			le.PutUint16(o[2:], 9)
			return f.idb(1, 0, o).buf
		}(), -1, "interface 0 has option 9 of length 9, past the end of its block", 0, false},
		{"pcapng cut in block header", append(ng().buf, 6, 0, 0), int64(ngEnd),
			"capture is cut short inside a block header after packet 1", 1, true},
		{"pcapng cut in epb", ng().epb(0, 0, make([]byte, 100), 100).buf[:ngEnd+60], int64(ngEnd),
			"capture is cut short inside packet 2 (60 of", 1, true},
		{"pcapng cut in idb", ng().idb(1, 0).buf[:ngEnd+16], int64(ngEnd),
			"capture is cut short inside an interface description block after packet 1", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "bad-" + strings.ReplaceAll(tt.name, " ", "_") + ".cap"
			pkts, err := readAll(t, name, tt.b)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v (%T), want a *FormatError", err, err)
			}
			if fe.File != name || !strings.HasPrefix(err.Error(), name+": ") {
				t.Errorf("error %q does not name the file %s", err, name)
			}
			if !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("message %q does not contain %q", fe.Msg, tt.msg)
			}
			if tt.off >= 0 && fe.Offset != tt.off {
				t.Errorf("offset %d, want %d (%v)", fe.Offset, tt.off, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("at byte offset %d", fe.Offset)) {
				t.Errorf("error %q does not give the offset", err)
			}
			if errors.Is(err, ErrTruncated) != tt.trunc {
				t.Errorf("errors.Is(ErrTruncated) = %v, want %v", !tt.trunc, tt.trunc)
			}
			if len(pkts) != tt.packets {
				t.Errorf("%d packets delivered before the error, want %d", len(pkts), tt.packets)
			}
		})
	}
}

// add2 appends a block header claiming length blen (and nothing else beyond
// padding) to test length checks.
func (f *ngFile) add2(typ, blen uint32) []byte {
	b := f.o.AppendUint32(bytes.Clone(f.buf), typ)
	b = f.o.AppendUint32(b, blen)
	return append(b, make([]byte, 64)...)
}

// TestPrefixes cuts small captures at every byte: every prefix gives either a
// clean end or a *FormatError (ErrTruncated inside a record), never a panic,
// and every packet complete in the prefix is delivered.
func TestPrefixes(t *testing.T) {
	pc := newPcapFile(true, true, 65535, 1)
	for i := range 4 {
		pc.add(t0, uint32(i), payload(i, 3+i*5), 100)
	}
	ng, _ := multiNg(false)
	for name, f := range map[string]struct {
		b          []byte
		ends       []int // ends of packet records
		boundaries []int // where a cut leaves a valid capture
	}{
		"x.pcap":   {pc.buf, pc.ends, append([]int{24}, pc.ends...)},
		"x.pcapng": {ng.buf, ng.ends, ng.blocks},
	} {
		for n := 0; n <= len(f.b); n++ {
			pkts, err := readAll(t, name, f.b[:n])
			complete := 0
			for _, e := range f.ends {
				if e <= n {
					complete++
				}
			}
			var fe *FormatError
			if err != io.EOF && !errors.As(err, &fe) {
				t.Fatalf("%s[:%d]: unexpected error %v", name, n, err)
			}
			switch {
			case n < 4:
				if fe == nil || errors.Is(err, ErrTruncated) {
					t.Errorf("%s[:%d]: got %v, want a not-a-capture error", name, n, err)
				}
			case slices.Contains(f.boundaries, n):
				if err != io.EOF {
					t.Errorf("%s[:%d]: got %v, want a clean end", name, n, err)
				}
			default:
				if !errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), name+": capture is cut short inside ") {
					t.Errorf("%s[:%d]: got %v, want ErrTruncated", name, n, err)
				}
			}
			if len(pkts) != complete {
				t.Errorf("%s[:%d]: %d packets delivered, want %d (%v)", name, n, len(pkts), complete, err)
			}
		}
		// Compressed prefixes: never a panic, never more packets than
		// complete ones, and a cut stream is never a clean end.
		z := gz(t, f.b)
		for n := 0; n < len(z); n++ {
			pkts, err := readAll(t, name+".gz", z[:n])
			if err == io.EOF {
				t.Errorf("%s.gz[:%d]: clean end of a cut stream", name, n)
			}
			if len(pkts) > len(f.ends) {
				t.Errorf("%s.gz[:%d]: %d packets", name, n, len(pkts))
			}
		}
	}
}
