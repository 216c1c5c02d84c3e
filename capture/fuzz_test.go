package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to NewReader and drains the source: it
// must never panic, every error must be io.EOF or a *FormatError that names
// the input and an offset, and packets must be of sane size.
func FuzzReader(f *testing.F) {
	ng, _ := multiNg(false)
	ngBE, _ := multiNg(true)
	pcLE := newPcapFile(false, false, 65535, 1).add(t0, 1, payload(1, 60), 60).add(t0, 2, payload(2, 3), 1500)
	pcBE := newPcapFile(true, true, 128, 0x10000001).add(t0, 1, payload(1, 128), 1514)
	seeds := [][]byte{
		nil,
		pcLE.buf,
		pcBE.buf,
		ng.buf,
		ngBE.buf,
		gz(f, pcLE.buf),
		gz(f, ng.buf),
		pcLE.buf[:len(pcLE.buf)-5],
		ng.buf[:len(ng.buf)/2],
		newNgFile(false).idb(1, 0).spb(payload(0, 10), 10).buf,
		// Edge cases: extreme time resolutions and timestamps, a record
		// claiming a 64 MiB capture length in a file with no snaplen limit.
		func() []byte {
			f := newNgFile(true)
			f.idb(1, 0, f.tsresol(0x80|63), f.tsoffset(-1<<62)).idb(1, 0, f.tsresol(28))
			return f.epb(0, ^uint64(0), nil, 0).epb(1, ^uint64(0), nil, 0).buf
		}(),
		newPcapFile(false, false, 0xffffffff, 1).add(0, 0, nil, 0).buf[:24+8],
		append(newPcapFile(false, false, 0xffffffff, 1).buf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4),
	}
	// The project's test captures, good and hostile, as seeds too.
	for _, pattern := range []string{"../testdata/*.pcap*", "../testdata/bad/*", "../testdata/hostile/*.pcap*"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil && !strings.HasSuffix(file, ".json") && len(b) < 64<<10 {
				seeds = append(seeds, b)
			}
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const name = "fuzz.cap"
		compressed := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
		check := func(err error) {
			if err == io.EOF {
				return
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			if fe.File != name || !strings.Contains(err.Error(), "at byte offset") {
				t.Fatalf("error %q does not name the input and offset", err)
			}
			if fe.Offset < 0 || !compressed && fe.Offset > int64(len(b)) {
				t.Fatalf("error offset %d outside the %d-byte input: %v", fe.Offset, len(b), err)
			}
		}
		s, err := NewReader(name, bytes.NewReader(b))
		if err != nil {
			if s != nil {
				t.Fatal("NewReader returned a source and an error")
			}
			check(err)
			return
		}
		defer s.Close()
		var p Packet
		for {
			err := s.Next(&p)
			if err != nil {
				check(err)
				if err2 := s.Next(&p); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
				return
			}
			if len(p.Data) > MaxPacketSize || !compressed && len(p.Data) > len(b) {
				t.Fatalf("packet of %d bytes from a %d-byte input", len(p.Data), len(b))
			}
			if p.Length < 0 || p.Iface < 0 {
				t.Fatalf("bad packet %+v", p)
			}
		}
	})
}
