package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// TestBigDeterministic writes a small big-mode capture twice and wants the
// same bytes, and a well-formed classic pcap of exactly that many packets.
func TestBigDeterministic(t *testing.T) {
	const n = 20000
	dir := t.TempDir()
	var files [2][]byte
	for i := range files {
		p := filepath.Join(dir, []string{"a.pcap", "b.pcap"}[i])
		if err := runBig(n, p, true); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatalf("two runs of -big %d differ (%d and %d bytes)", n, len(files[0]), len(files[1]))
	}

	b := files[0]
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("not a little-endian microsecond Ethernet pcap: % x", b[:min(len(b), 24)])
	}
	packets, last, off := 0, uint64(0), 24
	for off < len(b) {
		if off+16 > len(b) {
			t.Fatalf("record header cut at offset %d", off)
		}
		ts := uint64(binary.LittleEndian.Uint32(b[off:]))*1_000_000 + uint64(binary.LittleEndian.Uint32(b[off+4:]))
		caplen, origlen := int(binary.LittleEndian.Uint32(b[off+8:])), int(binary.LittleEndian.Uint32(b[off+12:]))
		if caplen != origlen || caplen < 54 || caplen > 1514 || off+16+caplen > len(b) {
			t.Fatalf("record %d at offset %d: caplen %d, origlen %d", packets, off, caplen, origlen)
		}
		if ts < last {
			t.Fatalf("record %d at offset %d goes back in time", packets, off)
		}
		last = ts
		off += 16 + caplen
		packets++
	}
	if packets != n {
		t.Errorf("%d packets, want %d", packets, n)
	}
	if mean := float64(len(b)-24-16*n) / n; mean < 700 || mean > 1100 {
		t.Errorf("mean frame %.0f bytes, want about 900", mean)
	}
}

// TestBigFormats checks the pcapng (and gzip) outputs carry the same frames.
func TestBigFormats(t *testing.T) {
	const n = 3000
	var pcap, ng bytes.Buffer
	if _, err := writeBig(&pcap, n, false); err != nil {
		t.Fatal(err)
	}
	if _, err := writeBig(&ng, n, true); err != nil {
		t.Fatal(err)
	}
	// Walk both: each enhanced packet block must hold the pcap record's frame and time.
	p, q := pcap.Bytes()[24:], ng.Bytes()
	for len(q) > 0 {
		typ, size := binary.LittleEndian.Uint32(q), int(binary.LittleEndian.Uint32(q[4:]))
		if typ == 6 {
			caplen := int(binary.LittleEndian.Uint32(p[8:]))
			ticks := uint64(binary.LittleEndian.Uint32(q[12:]))<<32 | uint64(binary.LittleEndian.Uint32(q[16:]))
			us := uint64(binary.LittleEndian.Uint32(p))*1_000_000 + uint64(binary.LittleEndian.Uint32(p[4:]))
			if ticks != us || !bytes.Equal(q[28:28+caplen], p[16:16+caplen]) {
				t.Fatalf("pcapng block differs from the pcap record")
			}
			p = p[16+caplen:]
		}
		q = q[size:]
	}
	if len(p) != 0 {
		t.Errorf("pcapng has fewer packets than the pcap")
	}
}
