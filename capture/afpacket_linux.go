//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	liveBlockSize    = 1 << 20               // one TPACKET_V3 block; holds the largest (GSO) packet
	liveBlockTimeout = 10 * time.Millisecond // the kernel hands over a partly filled block after this
	livePollTimeout  = 50 * time.Millisecond // a worker wakes this often when its ring is idle
	liveBatches      = 4                     // batches per worker
	liveBatchAge     = 20 * time.Millisecond // a batch is sent once its first packet is this old
	liveIdle         = 100 * time.Millisecond
	// A packet waits for the other workers' clocks to pass its time at most
	// this long (a worker that stalls must not stall the others).
	liveMaxWait = time.Second
	// An idle worker vouches that no packet older than now minus this will
	// come from its ring: a packet is in the ring within a block timeout.
	liveSlack = 2*liveBlockTimeout + 5*time.Millisecond
	sll2Len   = 20
)

var fanoutSeq atomic.Uint32

// Live opens a live capture on the named interfaces ("any" for every
// interface, alone) with AF_PACKET TPACKET_V3 memory-mapped rings. Each
// interface gets opts.Workers sockets in one fanout group that hashes each
// flow to one socket; each socket is read on its own goroutine, and the
// packets of every socket are merged in time order onto one Source, so that
// a DNS answer reaches the caller before the connection it names.
//
// Ethernet and loopback interfaces deliver Ethernet frames, with VLAN tags
// the kernel took off put back; "any" and other devices deliver Linux cooked
// v2 (SLL2) frames. Packet.Iface is the interface's position in ifaces.
func Live(ifaces []string, opts LiveOptions) (LiveSource, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("live capture: no interface given")
	}
	if opts.BufferMB <= 0 {
		opts.BufferMB = 64
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	seen := map[string]bool{}
	for _, name := range ifaces {
		switch {
		case seen[name]:
			return nil, fmt.Errorf("interface %s is given twice", name)
		case name == "any" && len(ifaces) > 1:
			return nil, errors.New(`interface "any" already captures every interface: give it alone`)
		}
		seen[name] = true
	}
	s := &liveSource{
		stop:   make(chan struct{}),
		merged: make(chan *liveBatch, len(ifaces)*opts.Workers*(liveBatches+1)),
		timer:  time.NewTimer(time.Hour),
	}
	s.timer.Stop()
	for i, name := range ifaces {
		if err := s.open(i, name, opts); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.streams = make([]liveStream, len(s.workers))
	for _, w := range s.workers {
		s.wg.Add(1)
		go w.run()
	}
	return s, nil
}

type liveSource struct {
	ifaces  []Interface
	workers []*liveWorker
	stop    chan struct{}
	merged  chan *liveBatch
	wg      sync.WaitGroup
	once    sync.Once

	statsMu sync.Mutex
	closed  bool

	// consumer side (Next)
	streams []liveStream
	release *liveBatch // the batch the last packet came from, recycled on the next Next
	failed  error
	timer   *time.Timer
}

// liveStream is one worker's batches waiting to be merged.
type liveStream struct {
	queue []*liveBatch
	pos   int   // next packet of queue[0]
	mark  int64 // the worker sends no packet older than this (its clock)
	done  bool
}

type liveBatch struct {
	batch
	w    *liveWorker
	mark int64
}

type liveWorker struct {
	src    *liveSource
	tp     *afpacket.TPacket
	id     int // stream index
	iface  int // interface index within the source
	name   string
	link   LinkType
	cooked bool // SOCK_DGRAM: the packet starts at the IP header; an SLL2 header is put in front
	free   chan *liveBatch
	last   afpacket.SocketStatsV3
}

// open opens the sockets of one interface.
func (s *liveSource) open(i int, name string, opts LiveOptions) error {
	isAny := name == "any"
	if !isAny {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return &IfaceError{name, ErrNoInterface}
		}
		if ifi.Flags&net.FlagUp == 0 {
			return &IfaceError{name, ErrInterfaceDown}
		}
	}
	cooked := isAny || !ethernetLike(name)
	link, filterLink := LinkEthernet, LinkEthernet
	if cooked {
		link, filterLink = LinkLinuxSLL2, LinkRaw
	}
	var filter []bpf.RawInstruction
	if opts.Filter != nil {
		var err error
		if filter, err = opts.Filter(filterLink); err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
	}
	s.ifaces = append(s.ifaces, Interface{Name: name, Link: link, SnapLen: liveSnapLen})
	blocks := max(2, opts.BufferMB/opts.Workers)
	group := uint16(os.Getpid()<<4) + uint16(fanoutSeq.Add(1))
	for range opts.Workers {
		topts := []any{
			afpacket.OptBlockSize(liveBlockSize), afpacket.OptNumBlocks(blocks),
			afpacket.OptBlockTimeout(liveBlockTimeout), afpacket.OptPollTimeout(livePollTimeout),
			afpacket.TPacketVersion3,
		}
		if !isAny {
			topts = append(topts, afpacket.OptInterface(name))
		}
		if cooked {
			topts = append(topts, afpacket.SocketDgram)
		} else {
			topts = append(topts, afpacket.OptAddVLANHeader(true))
		}
		tp, err := afpacket.NewTPacket(topts...)
		if err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return &IfaceError{name, ErrPermission}
			}
			return &IfaceError{name, fmt.Errorf("open packet socket: %w", err)}
		}
		w := &liveWorker{src: s, tp: tp, id: len(s.workers), iface: i, name: name, link: link, cooked: cooked,
			free: make(chan *liveBatch, liveBatches)}
		s.workers = append(s.workers, w)
		if filter != nil {
			if err := tp.SetBPF(filter); err != nil {
				return &IfaceError{name, fmt.Errorf("install the socket filter: %w", err)}
			}
		}
		if opts.Workers > 1 {
			if err := tp.SetFanout(afpacket.FanoutHash, group); err != nil {
				return &IfaceError{name, fmt.Errorf("join fanout group %d: %w", group, err)}
			}
		}
		if opts.Promiscuous && !isAny {
			if err := tp.SetPromiscuous(true); err != nil {
				return &IfaceError{name, fmt.Errorf("promiscuous mode: %w", err)}
			}
		}
		for range liveBatches {
			w.free <- &liveBatch{batch: batch{data: make([]byte, 0, batchBytes), pkts: make([]Packet, 0, batchPackets)}, w: w}
		}
	}
	return nil
}

// ethernetLike reports whether an interface's frames carry an Ethernet
// header (ARPHRD_ETHER, and ARPHRD_LOOPBACK whose header is zeroed).
func ethernetLike(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return true
	}
	t := strings.TrimSpace(string(b))
	return t == "1" || t == "772"
}

// run reads the worker's ring into batches until the source stops or the
// socket fails.
func (w *liveWorker) run() {
	defer w.src.wg.Done()
	b := w.get()
	if b == nil {
		return
	}
	var first int64 // time of b's first packet
	var failAt time.Time
	for {
		data, ci, err := w.tp.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			select {
			case <-w.src.stop:
				return
			default:
			}
			if len(b.pkts) == 0 {
				b.mark = time.Now().UnixNano() - int64(liveSlack) // a heartbeat: the worker's clock
			}
			if b = w.send(b); b == nil {
				return
			}
			continue
		}
		if err != nil {
			// An interface that goes down sets an error on the socket, and
			// poll reports it at once; the kernel still hands over the
			// block it was filling within a block timeout: read it first.
			if errors.Is(err, afpacket.ErrPoll) {
				if failAt.IsZero() {
					failAt = time.Now()
				}
				if time.Since(failAt) < liveSlack {
					time.Sleep(time.Millisecond)
					continue
				}
			}
			b.err = w.failure(err)
			w.send(b)
			return
		}
		ts := ci.Timestamp.UnixNano()
		n, length := len(data), ci.Length
		if w.cooked {
			n += sll2Len
			length += sll2Len
		}
		if len(b.pkts) > 0 && (len(b.pkts) == batchPackets || len(b.data)+n > cap(b.data) || ts-first > int64(liveBatchAge)) {
			if b = w.send(b); b == nil {
				return
			}
		}
		if n > cap(b.data) {
			b.data = make([]byte, 0, n+batchBytes) // a packet larger than a slab
		}
		if len(b.pkts) == 0 {
			first = ts
		}
		start := len(b.data)
		if w.cooked {
			b.data = appendSLL2(b.data, data, ci.InterfaceIndex)
		}
		b.data = append(b.data, data...)
		b.pkts = append(b.pkts, Packet{Data: b.data[start:len(b.data):len(b.data)], Length: length, Time: ts, Link: w.link, Iface: w.iface, Multi: len(w.src.ifaces) > 1})
		if ts > b.mark {
			b.mark = ts
		}
	}
}

// get takes a free batch, or nil once the source stops.
func (w *liveWorker) get() *liveBatch {
	select {
	case b := <-w.free:
		b.data, b.pkts, b.err, b.mark = b.data[:0], b.pkts[:0], nil, 0
		return b
	case <-w.src.stop:
		return nil
	}
}

// send hands b to the merger and returns a fresh batch (nil once the source
// stops, or after an error).
func (w *liveWorker) send(b *liveBatch) *liveBatch {
	select {
	case w.src.merged <- b:
	case <-w.src.stop:
		return nil
	}
	if b.err != nil {
		return nil
	}
	return w.get()
}

// failure names the interface in a read error, and tells an interface that
// went down (the kernel reports ENETDOWN on the socket: POLLERR) apart.
func (w *liveWorker) failure(err error) error {
	if errors.Is(err, afpacket.ErrPoll) && w.name != "any" {
		if ifi, e := net.InterfaceByName(w.name); e != nil || ifi.Flags&net.FlagUp == 0 {
			return &IfaceError{w.name, ErrInterfaceDown}
		}
	}
	return &IfaceError{w.name, fmt.Errorf("capture failed: %w", err)}
}

// appendSLL2 appends the LINKTYPE_LINUX_SLL2 header of a SOCK_DGRAM packet,
// from the sockaddr_ll the kernel wrote in front of it in the ring.
func appendSLL2(dst, pkt []byte, ifindex int) []byte {
	var h [sll2Len]byte
	if ll, ok := sockaddrLL(pkt, ifindex); ok {
		copy(h[0:2], ll[2:4]) // protocol, network order
		binary.BigEndian.PutUint32(h[4:], uint32(ifindex))
		binary.BigEndian.PutUint16(h[8:], binary.NativeEndian.Uint16(ll[8:])) // ARPHRD_ type
		h[10], h[11] = ll[10], min(ll[11], 8)                                 // packet type, address length
		copy(h[12:20], ll[12:20])
	} else {
		binary.BigEndian.PutUint32(h[4:], uint32(ifindex))
		binary.BigEndian.PutUint16(h[8:], 0xffff) // ARPHRD_VOID: unknown
		if len(pkt) > 0 {
			switch pkt[0] >> 4 {
			case 4:
				binary.BigEndian.PutUint16(h[0:], 0x0800)
			case 6:
				binary.BigEndian.PutUint16(h[0:], 0x86dd)
			}
		}
	}
	return append(dst, h[:]...)
}

// sockaddrLL reads the struct sockaddr_ll that TPACKET_V3 puts after the
// 48-byte tpacket3_hdr. A SOCK_DGRAM packet starts at TPACKET_ALIGN(48+20)+16
// = 96 bytes into its frame, so the address is 48 bytes before the packet.
// The address family and interface index confirm it.
func sockaddrLL(pkt []byte, ifindex int) (ll []byte, ok bool) {
	if len(pkt) == 0 {
		return nil, false
	}
	ll = unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(pkt)), -48)), 20)
	if binary.NativeEndian.Uint16(ll[0:]) != unix.AF_PACKET || int(int32(binary.NativeEndian.Uint32(ll[4:]))) != ifindex {
		return nil, false
	}
	return ll, true
}

// Next returns the packet with the earliest time among the workers' batches,
// once every other worker has either a later packet waiting or a clock past
// it (or the packet has waited liveMaxWait).
func (s *liveSource) Next(p *Packet) error {
	if s.release != nil {
		s.release.w.free <- s.release
		s.release = nil
	}
	var deadline time.Time
	for {
		s.drain()
		i, t := s.head()
		if i >= 0 && s.ready(i, t) {
			st := &s.streams[i]
			b := st.queue[0]
			*p = b.pkts[st.pos]
			if st.pos++; st.pos == len(b.pkts) {
				copy(st.queue, st.queue[1:])
				st.queue[len(st.queue)-1] = nil
				st.queue, st.pos = st.queue[:len(st.queue)-1], 0
				s.release = b
			}
			return nil
		}
		if i < 0 && s.failed != nil {
			return s.failed
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(liveIdle)
		} else if !now.Before(deadline) {
			return ErrIdle // the caller's clock goes on; a waiting packet comes on a later call
		}
		wait := deadline.Sub(now)
		if i >= 0 {
			wait = min(wait, max(time.Millisecond, time.Duration(t+int64(liveMaxWait)-now.UnixNano())))
		}
		s.timer.Reset(wait)
		select {
		case b := <-s.merged:
			s.timer.Stop()
			s.take(b)
		case <-s.timer.C:
		}
	}
}

// drain takes every batch already sent, without waiting.
func (s *liveSource) drain() {
	for {
		select {
		case b := <-s.merged:
			s.take(b)
		default:
			return
		}
	}
}

func (s *liveSource) take(b *liveBatch) {
	st := &s.streams[b.w.id]
	if b.mark > st.mark {
		st.mark = b.mark
	}
	if b.err != nil {
		st.done = true
		if s.failed == nil {
			s.failed = b.err
		}
	}
	if len(b.pkts) == 0 {
		if b.err == nil {
			b.w.free <- b
		}
		return
	}
	st.queue = append(st.queue, b)
}

// head finds the stream whose next packet is the earliest.
func (s *liveSource) head() (int, int64) {
	best, t := -1, int64(0)
	for i := range s.streams {
		st := &s.streams[i]
		if len(st.queue) == 0 {
			continue
		}
		if pt := st.queue[0].pkts[st.pos].Time; best < 0 || pt < t {
			best, t = i, pt
		}
	}
	return best, t
}

// ready reports whether no other stream can still send a packet older than t.
func (s *liveSource) ready(i int, t int64) bool {
	if s.failed != nil {
		return true // stopping: deliver what came
	}
	for j := range s.streams {
		st := &s.streams[j]
		if j == i || st.done || len(st.queue) > 0 || st.mark >= t {
			continue
		}
		return time.Now().UnixNano()-t >= int64(liveMaxWait)
	}
	return true
}

// SetFilter implements LiveSource.
func (s *liveSource) SetFilter(filter func(LinkType) ([]bpf.RawInstruction, error)) error {
	for _, w := range s.workers {
		link := LinkEthernet
		if w.cooked {
			link = LinkRaw // SOCK_DGRAM sockets' filters see the IP header first
		}
		f, err := filter(link)
		if err != nil {
			return fmt.Errorf("interface %s: %w", w.name, err)
		}
		if err := w.tp.SetBPF(f); err != nil {
			return &IfaceError{w.name, fmt.Errorf("install the socket filter: %w", err)}
		}
	}
	return nil
}

func (s *liveSource) Interfaces() []Interface { return append([]Interface(nil), s.ifaces...) }

// Stats returns the kernel's counters per interface.
func (s *liveSource) Stats() ([]IfaceStats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	var firstErr error
	if !s.closed {
		firstErr = s.readStats()
	}
	out := make([]IfaceStats, len(s.ifaces))
	for i, ifc := range s.ifaces {
		out[i].Name = ifc.Name
	}
	for _, w := range s.workers {
		out[w.iface].Packets += uint64(w.last.Packets())
		out[w.iface].Drops += uint64(w.last.Drops())
	}
	return out, firstErr
}

// readStats reads every socket's counters (statsMu held).
func (s *liveSource) readStats() error {
	var firstErr error
	for _, w := range s.workers {
		_, v3, err := w.tp.SocketStats()
		if err != nil {
			if firstErr == nil {
				firstErr = &IfaceError{w.name, fmt.Errorf("read capture statistics: %w", err)}
			}
			continue
		}
		w.last = v3
	}
	return firstErr
}

// Close stops the workers and closes the sockets; Stats keeps answering.
func (s *liveSource) Close() error {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.statsMu.Lock()
		s.readStats()
		s.closed = true
		for _, w := range s.workers {
			w.tp.Close()
		}
		s.statsMu.Unlock()
	})
	return nil
}
