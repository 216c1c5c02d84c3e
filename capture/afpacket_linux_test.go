//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeLive is a live source without sockets: the test plays the workers.
func fakeLive(workers int) (*liveSource, []*liveWorker) {
	s := &liveSource{stop: make(chan struct{}), merged: make(chan *liveBatch, 64), timer: time.NewTimer(time.Hour)}
	s.timer.Stop()
	for i := range workers {
		w := &liveWorker{src: s, id: i, name: "eth0", link: LinkEthernet, free: make(chan *liveBatch, liveBatches)}
		s.workers = append(s.workers, w)
	}
	s.streams = make([]liveStream, workers)
	return s, s.workers
}

// send plays worker w sending packets with these times (and a clock mark).
func send(s *liveSource, w *liveWorker, mark int64, err error, times ...int64) {
	b := &liveBatch{w: w, mark: mark}
	b.err = err
	for _, t := range times {
		b.pkts = append(b.pkts, Packet{Data: []byte{byte(t)}, Time: t, Link: LinkEthernet})
	}
	s.merged <- b
}

func next(t *testing.T, s *liveSource) (int64, error) {
	t.Helper()
	var p Packet
	err := s.Next(&p)
	return p.Time, err
}

func TestLiveMergeOrder(t *testing.T) {
	s, w := fakeLive(2)
	t0 := time.Now().UnixNano()
	send(s, w[0], t0+9, nil, t0+1, t0+5, t0+9)
	send(s, w[1], t0+10, nil, t0+2, t0+3, t0+10)
	for _, want := range []int64{1, 2, 3, 5, 9} {
		if got, err := next(t, s); err != nil || got != t0+want {
			t.Fatalf("got t0%+d, %v; want t0+%d", got-t0, err, want)
		}
	}
	// Worker 0 may still send a packet older than worker 1's t0+10: wait.
	if _, err := next(t, s); !errors.Is(err, ErrIdle) {
		t.Fatalf("got %v, want ErrIdle while worker 0's clock is behind", err)
	}
	send(s, w[0], t0+20, nil) // a heartbeat: worker 0's clock passes t0+10
	if got, err := next(t, s); err != nil || got != t0+10 {
		t.Fatalf("got t0%+d, %v; want t0+10", got-t0, err)
	}
	// A worker's failure: what is queued comes first, then the error.
	send(s, w[0], t0+30, nil, t0+30)
	fail := &IfaceError{"eth0", ErrInterfaceDown}
	send(s, w[1], t0+25, fail, t0+25)
	for _, want := range []int64{25, 30} {
		if got, err := next(t, s); err != nil || got != t0+want {
			t.Fatalf("got t0%+d, %v; want t0+%d", got-t0, err, want)
		}
	}
	for range 2 {
		if _, err := next(t, s); !errors.Is(err, ErrInterfaceDown) || err.Error() != "interface eth0: is down or went away" {
			t.Fatalf("got %v, want the interface's error", err)
		}
	}
}

// A worker whose clock never moves delays the others by liveMaxWait at most.
func TestLiveMergeStalledWorker(t *testing.T) {
	s, w := fakeLive(2)
	old := time.Now().Add(-2 * liveMaxWait).UnixNano()
	send(s, w[0], old, nil, old)
	if got, err := next(t, s); err != nil || got != old {
		t.Fatalf("got %d, %v; want the old packet at once", got, err)
	}
}

// Batches go back to their worker once their last packet is superseded.
func TestLiveMergeRecycles(t *testing.T) {
	s, w := fakeLive(1)
	t0 := time.Now().UnixNano()
	send(s, w[0], t0+2, nil, t0+1, t0+2)
	next(t, s)
	next(t, s)
	if len(w[0].free) != 0 {
		t.Fatal("the batch came back while its last packet may still be in use")
	}
	send(s, w[0], t0+3, nil) // heartbeat, recycled at once
	if _, err := next(t, s); !errors.Is(err, ErrIdle) {
		t.Fatalf("got %v, want ErrIdle", err)
	}
	if len(w[0].free) != 2 {
		t.Fatalf("%d batches back, want 2", len(w[0].free))
	}
}

func TestAppendSLL2(t *testing.T) {
	frame := make([]byte, 200)
	pkt := frame[96:]
	pkt[0] = 0x45
	ll := frame[48:68]
	binary.NativeEndian.PutUint16(ll[0:], unix.AF_PACKET)
	copy(ll[2:4], []byte{0x08, 0x00})
	binary.NativeEndian.PutUint32(ll[4:], 7)
	binary.NativeEndian.PutUint16(ll[8:], 1) // ARPHRD_ETHER
	ll[10], ll[11] = 4, 6                    // outgoing, 6-byte address
	copy(ll[12:], []byte{2, 0, 0, 0, 0, 1})

	h := appendSLL2(nil, pkt, 7)
	want := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 7, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0}
	if string(h) != string(want) {
		t.Errorf("got %x, want %x", h, want)
	}
	// Another interface index: the address is not trusted.
	h = appendSLL2(nil, pkt, 8)
	want = []byte{0x08, 0x00, 0, 0, 0, 0, 0, 8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if string(h) != string(want) {
		t.Errorf("got %x, want %x", h, want)
	}
	pkt[0] = 0x60
	if h = appendSLL2(nil, pkt, 8); h[0] != 0x86 || h[1] != 0xdd {
		t.Errorf("IPv6: got %x", h)
	}
}

func TestLiveErrors(t *testing.T) {
	if _, err := Live(nil, LiveOptions{}); err == nil {
		t.Error("no interface: no error")
	}
	if _, err := Live([]string{"any", "lo"}, LiveOptions{}); err == nil {
		t.Error(`"any" with another interface: no error`)
	}
	if _, err := Live([]string{"lo", "lo"}, LiveOptions{}); err == nil {
		t.Error("an interface given twice: no error")
	}
	_, err := Live([]string{"msnaudit-no-such0"}, LiveOptions{})
	var ie *IfaceError
	if !errors.As(err, &ie) || !errors.Is(err, ErrNoInterface) || err.Error() != "interface msnaudit-no-such0: no such interface" {
		t.Errorf("got %v, want interface msnaudit-no-such0: no such interface", err)
	}
}
