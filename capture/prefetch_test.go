package capture

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestPrefetchDeliversTheSamePackets(t *testing.T) {
	f := newPcapFile(false, true, 262144, uint32(LinkEthernet))
	for i := range 3000 {
		n := 60 + i*37%1400
		if i == 1500 {
			n = 200000 // larger than a batch slab
		}
		f.add(uint32(i), uint32(i), payload(i, n), n)
	}
	full := f.buf
	for name, data := range map[string][]byte{"whole": full, "cut": full[:len(full)-10]} {
		t.Run(name, func(t *testing.T) {
			want, wantErr := readAll(t, "x.pcap", data)
			s, err := NewReader("x.pcap", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			p := Prefetch(s)
			defer p.Close()
			got, gotErr := drain(t, p)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("prefetched %d packets differ from the %d read directly", len(got), len(want))
			}
			if !errors.Is(gotErr, wantErr) && gotErr.Error() != wantErr.Error() {
				t.Errorf("error %v, want %v", gotErr, wantErr)
			}
		})
	}
}

func TestPrefetchNextAllocs(t *testing.T) {
	f := newPcapFile(false, false, 65535, uint32(LinkEthernet))
	for i := range 20000 {
		f.add(uint32(i), 0, payload(i, 900), 900)
	}
	s, err := NewReader("x.pcap", bytes.NewReader(f.buf))
	if err != nil {
		t.Fatal(err)
	}
	p := Prefetch(s)
	defer p.Close()
	var pkt Packet
	if n := testing.AllocsPerRun(10000, func() {
		if err := p.Next(&pkt); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}

func TestPrefetchCloseEarly(t *testing.T) {
	f := newPcapFile(false, false, 65535, uint32(LinkEthernet))
	for i := range 5000 {
		f.add(uint32(i), 0, payload(i, 500), 500)
	}
	s, _ := NewReader("x.pcap", bytes.NewReader(f.buf))
	p := Prefetch(s)
	var pkt Packet
	if err := p.Next(&pkt); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
