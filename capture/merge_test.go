package capture

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// sliceSource is a Source over fixed packets, ending with err, which reuses
// one buffer for Data like the real readers do.
type sliceSource struct {
	pkts   []got
	err    error
	buf    []byte
	closed bool
}

func (s *sliceSource) Next(p *Packet) error {
	if len(s.pkts) == 0 {
		return s.err
	}
	g := s.pkts[0]
	s.pkts = s.pkts[1:]
	clear(s.buf) // invalidates the previous packet's Data
	s.buf = append(s.buf[:0], g.Data...)
	*p = Packet{Data: s.buf, Length: g.Length, Time: g.Time, Link: g.Link, Iface: g.Iface}
	return nil
}

func (s *sliceSource) Close() error { s.closed = true; return nil }

func TestMerge(t *testing.T) {
	// Each packet's data is its input and time, so a stale or clobbered
	// buffer shows.
	pk := func(in int, tm int64) got {
		return got{Data: []byte{byte(in), byte(tm), 'x', 'y'}, Length: 4, Time: tm, Link: LinkEthernet}
	}
	type want struct {
		in int
		tm int64
	}
	tests := []struct {
		name    string
		inputs  [][]int64
		errs    []error
		want    []want
		wantErr string // "" for io.EOF
	}{
		{"empty", nil, nil, nil, ""},
		{"one", [][]int64{{1, 2, 3}}, nil, []want{{0, 1}, {0, 2}, {0, 3}}, ""},
		{"interleaved", [][]int64{{1, 4, 7}, {2, 5, 8}, {3, 6, 9}}, nil,
			[]want{{0, 1}, {1, 2}, {2, 3}, {0, 4}, {1, 5}, {2, 6}, {0, 7}, {1, 8}, {2, 9}}, ""},
		{"ties by input order", [][]int64{{5, 5}, {5}, {1, 5}}, nil,
			[]want{{2, 1}, {0, 5}, {0, 5}, {1, 5}, {2, 5}}, ""},
		{"empty inputs", [][]int64{{}, {3}, {}}, nil, []want{{1, 3}}, ""},
		{"unsorted input keeps its order", [][]int64{{5, 1}, {3}}, nil, []want{{1, 3}, {0, 5}, {0, 1}}, ""},
		{"truncated input does not stop the others", [][]int64{{1, 2}, {3, 4, 5}},
			[]error{&FormatError{File: "a.pcap", Msg: "capture is cut short inside packet 3", Err: ErrTruncated}, nil},
			[]want{{0, 1}, {0, 2}, {1, 3}, {1, 4}, {1, 5}}, "a.pcap: capture is cut short inside packet 3"},
		{"first truncation wins", [][]int64{{1}, {2}},
			[]error{
				&FormatError{File: "a", Msg: "cut a", Err: ErrTruncated},
				&FormatError{File: "b", Msg: "cut b", Err: ErrTruncated},
			},
			[]want{{0, 1}, {1, 2}}, "a: cut a"},
		{"other errors stop", [][]int64{{1, 2}, {3, 4}},
			[]error{errors.New("disk on fire"), nil},
			[]want{{0, 1}, {0, 2}}, "one.pcap: disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srcs []Source
			for i, times := range tt.inputs {
				s := &sliceSource{err: io.EOF}
				if i < len(tt.errs) && tt.errs[i] != nil {
					s.err = tt.errs[i]
				}
				for _, tm := range times {
					s.pkts = append(s.pkts, pk(i, tm))
				}
				srcs = append(srcs, s)
			}
			m := Merge([]string{"one.pcap"}, srcs)
			pkts, err := drain(t, m)
			var gotw []want
			for _, p := range pkts {
				gotw = append(gotw, want{p.Input, p.Time})
				if !bytes.Equal(p.Data, []byte{byte(p.Input), byte(p.Time), 'x', 'y'}) {
					t.Errorf("packet from input %d at %d has data %v", p.Input, p.Time, p.Data)
				}
			}
			if len(gotw) != len(tt.want) {
				t.Fatalf("got %v, want %v", gotw, tt.want)
			}
			for i := range gotw {
				if gotw[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", gotw, tt.want)
				}
			}
			if tt.wantErr == "" && err != io.EOF || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("final error %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && strings.Contains(tt.name, "trunc") && !errors.Is(err, ErrTruncated) {
				t.Errorf("final error %v is not ErrTruncated", err)
			}
			if err := m.Close(); err != nil {
				t.Error(err)
			}
			for i, s := range srcs {
				if !s.(*sliceSource).closed {
					t.Errorf("source %d not closed", i)
				}
			}
		})
	}
}

// TestMergeReaders merges real readers: a truncated pcap, a pcapng and a
// gzip pcap, and checks that every packet's data is intact when handed out.
func TestMergeReaders(t *testing.T) {
	a := newPcapFile(false, true, 0, 1)
	b := newNgFile(true).idb(101, 0, newNgFile(true).tsresol(9))
	c := newPcapFile(true, false, 0, 1)
	for i := range 300 {
		a.add(t0, uint32(3*i), payload(i, 50+i%200), 1000)
		b.epb(0, t0*1e9+uint64(3*i+1), payload(1000+i, 60+i%300), 1000)
		c.add(t0, uint32(i), payload(2000+i, 70+i%100), 1000) // µs: later than all of a and b from i>0
	}
	cut := a.buf[:a.ends[199]+10]
	var srcs []Source
	for i, f := range [][]byte{cut, b.buf, gz(t, c.buf)} {
		s, err := NewReader([]string{"a", "b", "c"}[i], bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
	}
	m := Merge([]string{"a", "b", "c"}, srcs)
	defer m.Close()
	pkts, err := drain(t, m)
	if !errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), "a: ") {
		t.Errorf("final error %v, want a's truncation", err)
	}
	if len(pkts) != 200+300+300 {
		t.Fatalf("got %d packets", len(pkts))
	}
	var last int64
	seen := map[int]int{}
	for _, p := range pkts {
		if p.Time < last {
			t.Fatalf("time goes back: %d after %d", p.Time, last)
		}
		last = p.Time
		i := seen[p.Input]
		seen[p.Input]++
		id := i + 1000*p.Input
		n := []int{50 + i%200, 60 + i%300, 70 + i%100}[p.Input]
		if !bytes.Equal(p.Data, payload(id, n)) {
			t.Fatalf("input %d packet %d: data differs", p.Input, i)
		}
	}
}
