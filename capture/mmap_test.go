//go:build linux

package capture

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// mapAll maps every file Open is given, whatever its size, while a test runs.
func mapAll(t *testing.T) {
	old := mapMin
	mapMin = 0
	t.Cleanup(func() { mapMin = old })
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMappedReadsTheSame: a file parsed where it is mapped gives the same
// packets and the same errors, at the same offsets, as the same bytes read,
// for every prefix of a pcap and a pcapng file.
func TestMappedReadsTheSame(t *testing.T) {
	mapAll(t)
	pc := newPcapFile(true, true, 65535, 1)
	for i := range 4 {
		pc.add(t0, uint32(i), payload(i, 3+i*5), 100)
	}
	ng, _ := multiNg(false)
	mapped := 0
	for name, b := range map[string][]byte{"x.pcap": pc.buf, "x.pcapng": ng.buf} {
		for n := 0; n <= len(b); n++ {
			want, wantErr := readAll(t, name, b[:n])
			path := writeTemp(t, name, b[:n])
			s, err := Open(path)
			var got []got
			if err == nil {
				if s.(interface{ mappedInput() *input }).mappedInput() != nil {
					mapped++
				}
				got, err = drain(t, s)
				s.Close()
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s[:%d]: mapped: %d packets, read: %d", name, n, len(got), len(want))
			}
			if g, w := strings.ReplaceAll(err.Error(), path, name), wantErr.Error(); g != w {
				t.Errorf("%s[:%d]: mapped: %v, read: %v", name, n, g, w)
			}
		}
	}
	if mapped < 100 {
		t.Errorf("only %d prefixes were mapped", mapped)
	}
}

// bigPcap is a pcap of about size bytes of 1400-byte packets.
func bigPcap(size int) []byte {
	f := newPcapFile(false, false, 65535, uint32(LinkEthernet))
	for i := 0; len(f.buf) < size; i++ {
		f.add(uint32(i/1000), uint32(i%1000), payload(i, 1400), 1400)
	}
	return f.buf
}

// rssFile is the process's resident file-backed memory (mapped files).
func rssFile(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestMappedMemoryStaysBounded: reading a mapped 96 MiB capture, directly
// or through Prefetch, holds a bounded part of it resident: pages already
// parsed are given back.
func TestMappedMemoryStaysBounded(t *testing.T) {
	name := writeTemp(t, "big.pcap", bigPcap(96<<20))
	for _, prefetch := range []bool{false, true} {
		s, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.(interface{ mappedInput() *input }).mappedInput() == nil {
			t.Fatal("a 96 MiB capture is not mapped")
		}
		if prefetch {
			s = Prefetch(s)
		}
		base, peak := rssFile(t), 0
		var p Packet
		n := 0
		for ; s.Next(&p) == nil; n++ {
			if n%2000 == 0 {
				peak = max(peak, rssFile(t)-base)
			}
		}
		s.Close()
		if n < 60000 || peak > 40<<20 {
			t.Errorf("prefetch %v: %d packets read, resident file memory grew by up to %d MiB, want under 40", prefetch, n, peak>>20)
		}
		t.Logf("prefetch %v: %d packets, resident file memory grew by up to %.1f MiB", prefetch, n, float64(peak)/(1<<20))
	}
}

// TestMappedFileShrinks: a capture truncated while it is mapped and read
// gives an error naming it, not a crash (SIGBUS), directly or through
// Prefetch.
func TestMappedFileShrinks(t *testing.T) {
	for _, prefetch := range []bool{false, true} {
		name := writeTemp(t, "shrink.pcap", bigPcap(16<<20))
		s, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if prefetch {
			s = Prefetch(s)
		}
		var p Packet
		if err := s.Next(&p); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(name, 64<<10); err != nil {
			t.Fatal(err)
		}
		n := 0
		for err = s.Next(&p); err == nil; err = s.Next(&p) {
			n++
		}
		s.Close()
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "the file shrank while it was read") || fe.Offset < 64<<10-1500 {
			t.Errorf("prefetch %v: after %d more packets: %v, want the file shrank, past byte 64 KiB", prefetch, n, err)
		}
	}
}
