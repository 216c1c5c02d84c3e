package capture

import (
	"bytes"
	"io"
	"testing"
)

const benchPackets = 10000

// benchSizes cycles through typical packet sizes (mean about 700 bytes).
func benchSize(i int) int { return []int{60, 1514, 590, 66, 1514, 200, 1200, 54}[i%8] }

func benchPcap() *pcapFile {
	f := newPcapFile(false, false, 65535, 1)
	for i := range benchPackets {
		n := benchSize(i)
		f.add(t0+uint32(i/1000), uint32(i%1000)*1000, payload(i, n), n)
	}
	return f
}

func benchPcapng() *ngFile {
	f := newNgFile(false).idb(1, 0).idb(101, 0, newNgFile(false).tsresol(9))
	for i := range benchPackets {
		n := benchSize(i)
		f.epb(uint32(i%2), t0*1e6+uint64(i), payload(i, n), n)
	}
	return f
}

// loopReader returns head, then body over and over: an endless capture.
type loopReader struct {
	head, body []byte
	pos        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		m := copy(p[n:], l.body[l.pos:])
		n += m
		l.pos = (l.pos + m) % len(l.body)
	}
	return n, nil
}

// TestNextAllocs proves that reading a packet allocates nothing in steady
// state, buffer refills included.
func TestNextAllocs(t *testing.T) {
	pc := benchPcap()
	ng := benchPcapng()
	for name, r := range map[string]func() io.Reader{
		"pcap":         func() io.Reader { return bytes.NewReader(pc.buf) },
		"pcapng":       func() io.Reader { return bytes.NewReader(ng.buf) },
		"pcap endless": func() io.Reader { return &loopReader{head: pc.buf[:24], body: pc.buf[24:]} },
		"pcapng endless": func() io.Reader {
			h := len(newNgFile(false).idb(1, 0).idb(101, 0, newNgFile(false).tsresol(9)).buf)
			return &loopReader{head: ng.buf[:h], body: ng.buf[h:]}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewReader(name, r())
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			for range 100 {
				if err := s.Next(&p); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(benchPackets-200, func() {
				if err := s.Next(&p); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Next allocates %v times per packet, want 0", allocs)
			}
		})
	}
	t.Run("merge", func(t *testing.T) {
		var srcs []Source
		for _, b := range [][]byte{pc.buf, ng.buf, pc.buf} {
			s, err := NewReader("m", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			srcs = append(srcs, s)
		}
		m := Merge(nil, srcs)
		var p Packet
		if err := m.Next(&p); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(3*benchPackets-100, func() {
			if err := m.Next(&p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("merged Next allocates %v times per packet, want 0", allocs)
		}
	})
}

// benchFile reads a whole in-memory capture per iteration (reader setup
// included); size is its uncompressed size, for MB/s.
func benchFile(b *testing.B, data []byte, size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var p Packet
	for b.Loop() {
		s, err := NewReader("bench", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			if err := s.Next(&p); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			n++
		}
		if n != benchPackets {
			b.Fatalf("read %d packets", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchPackets), "ns/pkt")
}

func BenchmarkPcap(b *testing.B)   { d := benchPcap().buf; benchFile(b, d, len(d)) }
func BenchmarkPcapng(b *testing.B) { d := benchPcapng().buf; benchFile(b, d, len(d)) }

// BenchmarkPcapGzip counts decompressed bytes; the allocations per op are
// compress/flate's (one per dynamic Huffman block), not the reader's.
func BenchmarkPcapGzip(b *testing.B) { d := benchPcap().buf; benchFile(b, gz(b, d), len(d)) }

// BenchmarkMerge3 merges three in-memory captures of benchPackets each.
func BenchmarkMerge3(b *testing.B) {
	pc, ng := benchPcap().buf, benchPcapng().buf
	b.SetBytes(int64(2*len(pc) + len(ng)))
	b.ReportAllocs()
	var p Packet
	for b.Loop() {
		var srcs []Source
		for _, d := range [][]byte{pc, ng, pc} {
			s, err := NewReader("bench", bytes.NewReader(d))
			if err != nil {
				b.Fatal(err)
			}
			srcs = append(srcs, s)
		}
		m := Merge(nil, srcs)
		n := 0
		for m.Next(&p) == nil {
			n++
		}
		if n != 3*benchPackets {
			b.Fatalf("read %d packets", n)
		}
	}
}

// benchSteady reads b.N packets from an endless capture through one reader:
// the per-packet cost in steady state.
func benchSteady(b *testing.B, r io.Reader, bytesPerPacket int) {
	s, err := NewReader("bench", r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(bytesPerPacket))
	b.ReportAllocs()
	var p Packet
	for b.Loop() {
		if err := s.Next(&p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPcapNext(b *testing.B) {
	f := benchPcap()
	benchSteady(b, &loopReader{head: f.buf[:24], body: f.buf[24:]}, (len(f.buf)-24)/benchPackets)
}

func BenchmarkPcapngNext(b *testing.B) {
	f := benchPcapng()
	h := len(newNgFile(false).idb(1, 0).idb(101, 0, newNgFile(false).tsresol(9)).buf)
	benchSteady(b, &loopReader{head: f.buf[:h], body: f.buf[h:]}, (len(f.buf)-h)/benchPackets)
}
