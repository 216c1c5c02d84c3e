package main

// Big mode: a large capture shaped like a gateway's, for benchmarks.
//
//	go run ./testdata/gen -big 1000000 -o /tmp/big.pcap
//
// The capture is written as it is generated, packet by packet, through a
// buffered writer: only the flows open at the moment are held in memory (a
// few tens of MB at most), so 10M packets (~9 GB) cost no more memory than 1M.
//
// The traffic is a simulation of ~250 dual-stack hosts (192.0.2.0/24,
// 2001:db8:c1::/64) behind a gateway: sessions arrive at random (Poisson),
// each a short script of flows (an optional DNS lookup, then one TCP
// connection or UDP exchange, sometimes a second connection); the packets of
// all open sessions are written in time order. About one session in five is
// Windows Live Messenger (MSNP logins on 1863 to DNS-named servers with the
// XFR redirect, HTTPS with SNI login.live.com and *.contacts.msn.com, the HTTP
// gateway, UDP 7001 echo probes), with failures mixed in (dropped SYNs, RST,
// RST after the ClientHello, ICMP administratively prohibited, HTTP 403,
// unanswered probes, failed lookups), so that the verdicts are not trivial.
// The rest is background: HTTPS and HTTP to *.example.* names, DNS lookups,
// NTP, SSH and TCP to high ports. The simulation starts bigWarm before the
// capture, so the capture opens on a steady state of tens of thousands of
// flows, as a real capture does (flows already open appear mid-stream).
//
// Frames are built by hand from the addresses, sequence numbers and lengths
// (Ethernet, IPv4 or IPv6, TCP with correct checksums), with payloads cut
// from fixed templates and a fixed pseudo-random byte ring: no per-packet
// allocation. Everything derives from one PCG seed: two runs with the same N
// write identical bytes.

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"
)

const (
	bigSeed1, bigSeed2 = 0x6d736e6175646974, 0x6b62393630383230 // "msnaudit", "kb960820"

	bigWarm    = 150 * 1_000_000 // µs simulated before the capture starts
	bigMaxRate = 1000.0          // sessions per second at full size
	bigMinSpan = 15.0            // seconds: small captures arrive slower, to span at least about this long
	bigPktPerS = 65.0            // packets per session, measured: sets the rate for small N
	bigRingLen = 1 << 20         // bytes of pseudo-random payload
	tlsRecMax  = 16408           // TLS ciphertext record payload (16384 + AEAD overhead)
	tlsRecTot  = tlsRecMax + 5
)

// runBig is the -big mode of the command: n packets to out ("-": standard output).
func runBig(n int, out string, quiet bool) error {
	if out == "" {
		return fmt.Errorf("-big needs -o FILE (or -o - for standard output)")
	}
	ng := strings.HasSuffix(out, ".pcapng") || strings.HasSuffix(out, ".pcapng.gz")
	var w io.Writer = os.Stdout
	var f *os.File
	if out != "-" {
		var err error
		if f, err = os.Create(out); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	var zw *gzip.Writer
	if strings.HasSuffix(out, ".gz") {
		zw = gzip.NewWriter(w)
		w = zw
	}
	start := time.Now()
	st, err := writeBig(w, n, ng)
	if err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
	}
	if !quiet {
		el := time.Since(start)
		fmt.Fprintf(os.Stderr, "%s: %d packets, %d bytes (mean frame %.0f B), %.1f s of traffic, in %.2fs (%.0f packets/s)\n",
			out, st.packets, st.fileBytes, float64(st.frameBytes)/float64(max(st.packets, 1)),
			float64(st.span)/1e6, el.Seconds(), float64(st.packets)/el.Seconds())
		fmt.Fprint(os.Stderr, st.String())
	}
	return nil
}

// ---------------------------------------------------------------- output

// bigOut writes pcap records (or pcapng enhanced packet blocks) through a buffer.
type bigOut struct {
	w          *bufio.Writer
	ng         bool
	err        error
	hdr        [32]byte
	packets    int
	fileBytes  int64
	frameBytes int64
	first      int64 // µs, first and last packet
	last       int64
}

var bigBaseUnix = baseTime.Unix()

func (o *bigOut) write(b []byte) {
	if o.err != nil {
		return
	}
	n, err := o.w.Write(b)
	o.fileBytes += int64(n)
	if err != nil {
		o.err = err
	}
}

// start writes the file header.
func (o *bigOut) start() {
	if o.ng {
		o.write(ngSHB())
		o.write(ngIDB(linkEthernet, "eth0", 0)) // microsecond timestamps
		return
	}
	h := o.hdr[:24]
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[8:], 0)
	binary.LittleEndian.PutUint32(h[12:], 0)
	binary.LittleEndian.PutUint32(h[16:], snapLen)
	binary.LittleEndian.PutUint32(h[20:], uint32(linkEthernet))
	o.write(h)
}

// packet writes one frame captured at t µs after baseTime.
func (o *bigOut) packet(t int64, frame []byte) {
	if o.packets == 0 {
		o.first = t
	}
	o.last = t
	o.packets++
	o.frameBytes += int64(len(frame))
	n := uint32(len(frame))
	if o.ng {
		ticks := uint64(bigBaseUnix)*1_000_000 + uint64(t)
		pad := (4 - len(frame)%4) % 4
		total := uint32(28 + len(frame) + pad + 4)
		h := o.hdr[:28]
		binary.LittleEndian.PutUint32(h[0:], 6)
		binary.LittleEndian.PutUint32(h[4:], total)
		binary.LittleEndian.PutUint32(h[8:], 0)
		binary.LittleEndian.PutUint32(h[12:], uint32(ticks>>32))
		binary.LittleEndian.PutUint32(h[16:], uint32(ticks))
		binary.LittleEndian.PutUint32(h[20:], n)
		binary.LittleEndian.PutUint32(h[24:], n)
		o.write(h)
		o.write(frame)
		var tr [8]byte
		binary.LittleEndian.PutUint32(tr[pad:], total)
		o.write(tr[:pad+4])
		return
	}
	h := o.hdr[:16]
	binary.LittleEndian.PutUint32(h[0:], uint32(bigBaseUnix+t/1_000_000))
	binary.LittleEndian.PutUint32(h[4:], uint32(t%1_000_000))
	binary.LittleEndian.PutUint32(h[8:], n)
	binary.LittleEndian.PutUint32(h[12:], n)
	o.write(h)
	o.write(frame)
}

// ---------------------------------------------------------------- the network

// bigHost is one client of the gateway, dual-stack.
type bigHost struct {
	a4   [4]byte
	a6   [16]byte
	mac  [6]byte
	ttl  uint8
	ipID uint16 // IPv4 identification counter (one per host, as Windows does)
	port uint16 // next ephemeral port
}

// bigServer is a server (or the resolver, or the router), with an IPv4 and an IPv6 address.
type bigServer struct {
	name string
	a4   [4]byte
	a6   [16]byte
	rtt  int64 // µs, from the gateway
	ttl  uint8
}

func (h *bigHost) nextPort() uint16 {
	p := h.port
	h.port++
	if h.port == 0 {
		h.port = 49152
	}
	return p
}

// ---------------------------------------------------------------- sessions

type bigKind uint8

const (
	kDNS     bigKind = iota // a lookup: query and answer on a new UDP flow to the resolver
	kConnect                // a new TCP connection (mode: cOK, cDrop, cRefuse, cICMP)
	kSend                   // a client message
	kRecv                   // a server message
	kClose                  // FIN, FIN, ACK (mode: the side that closes first)
	kRST                    // RST/ACK (mode: the side that sends it)
	kUDP                    // one datagram (mode: udpNew opens a new flow first; udpFromServer)
)

const (
	cOK = iota
	cDrop
	cRefuse
	cICMP

	sideClient = 0
	sideServer = 1

	udpNew        = 1
	udpFromServer = 2
)

// bigStep is one step of a session's script.
type bigStep struct {
	kind  bigKind
	mode  uint8
	tls   bool   // kSend/kRecv: the bulk is framed as TLS application-data records
	ack   bool   // kSend/kRecv: the receiver ACKs the last segment on its own
	tries uint8  // kConnect cDrop: SYNs sent
	port  uint16 // kConnect, kUDP udpNew: the server port
	cport uint16 // kUDP udpNew: the client port, chosen when the script was built
	qtype uint16 // kDNS: 1 (A) or 28 (AAAA)
	rcode uint8  // kDNS
	pre   int64  // µs between the previous packet and this step's first
	srv   *bigServer
	head  []byte // message or datagram bytes (kDNS: nil)
	bulk  int    // message bytes after head, from the ring
	roff  int    // ring offset of the bulk
	name  string // kDNS: the name looked up
}

// bigConn is the flow a session is on.
type bigConn struct {
	srv          *bigServer
	v6           bool
	cport, sport uint16
	cseq, sseq   uint32
	ciss         uint32
	sid          uint16 // server IPv4 identification counter
	cwin, swin   uint16
	mss          int
	gap          int64 // µs between back-to-back segments
	ackd         int64 // µs before a bare ACK
	win          int   // segments sent before waiting a round trip
	dnsID        uint16
	synID        uint16 // IPv4 identification of the client's last SYN
	open         bool   // a TCP connection not yet closed
}

type bigSession struct {
	at      int64 // µs from the capture start of the next packet
	id      uint64
	host    *bigHost
	v6      bool
	steps   []bigStep
	i, k    int // current step, packet within it
	off     int // message bytes sent
	seg     int // message segments sent
	ackNext bool
	c       bigConn
}

// ---------------------------------------------------------------- generator

type bigGen struct {
	rng      *rand.Rand
	out      bigOut
	buf      [2048]byte
	dnsBuf   [512]byte
	hosts    []*bigHost
	resolver *bigServer
	router   *bigServer
	heap     []bigHeapItem
	ns       []*bigServer // notification servers named by XFR
	unnamedS []*bigServer // servers without a name: SSH, NTP, high ports
	memo     map[string][]byte
	nextID   uint64
	arrival  int64
	rate     float64 // sessions per second
	max      int
	hellos   map[string][]byte
	srvNames map[string]*bigServer
	st       bigStats
}

// bigStats describe what was generated.
type bigStats struct {
	packets    int
	fileBytes  int64
	frameBytes int64
	span       int64 // µs from the first packet to the last
	sessions   int   // sessions started in the capture
	flows      int   // flows started in the capture (DNS lookups included)
	msgrFlows  int   // of which to Messenger servers
	midstream  int   // sessions already open when the capture starts
	peakOpen   int   // most TCP connections open at once
	peakLive   int   // most sessions live at once
	open       int
	outcomes   map[string]int // Messenger attempts by kind and intended outcome
}

func (s *bigStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %d sessions and %d flows started in the capture (%d to Messenger servers, %.1f%%), %d sessions mid-stream at the start\n",
		s.sessions, s.flows, s.msgrFlows, 100*float64(s.msgrFlows)/float64(max(s.flows, 1)), s.midstream)
	fmt.Fprintf(&b, "  peak: %d TCP connections open, %d sessions live\n", s.peakOpen, s.peakLive)
	keys := make([]string, 0, len(s.outcomes))
	for k := range s.outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("  Messenger attempts started in the capture (intended outcome):")
	for i, k := range keys {
		if i%4 == 0 {
			b.WriteString("\n   ")
		}
		fmt.Fprintf(&b, " %s %d", k, s.outcomes[k])
	}
	b.WriteString("\n")
	return b.String()
}

// writeBig writes n packets of a gateway-shaped capture to w, pcapng if ng.
func writeBig(w io.Writer, n int, ng bool) (bigStats, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	g := newBigGen(n)
	g.out = bigOut{w: bw, ng: ng}
	g.out.start()
	g.run()
	if g.out.err == nil {
		g.out.err = bw.Flush()
	}
	g.st.packets, g.st.fileBytes, g.st.frameBytes = g.out.packets, g.out.fileBytes, g.out.frameBytes
	g.st.span = g.out.last - g.out.first
	return g.st, g.out.err
}

func newBigGen(n int) *bigGen {
	g := &bigGen{rng: rand.New(rand.NewPCG(bigSeed1, bigSeed2)), max: n,
		hellos: map[string][]byte{}, memo: map[string][]byte{}, srvNames: map[string]*bigServer{}, st: bigStats{outcomes: map[string]int{}}}
	// Full rate from ~550k packets; smaller captures arrive slower so they still span bigMinSpan.
	g.rate = math.Max(2, math.Min(bigMaxRate, float64(n)/(bigPktPerS*bigMinSpan)))
	for i := 2; i <= 250; i++ {
		if i == 53 {
			continue
		}
		h := &bigHost{a4: [4]byte{192, 0, 2, byte(i)}, ttl: 128,
			mac:  [6]byte{0x00, 0x00, 0x5e, 0x00, 0x53, byte(i)},
			ipID: uint16(g.rng.Uint32()), port: uint16(49152 + g.rng.IntN(16384))}
		h.a6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:c1::%x", i)).As16()
		if i%5 == 0 {
			h.ttl = 64 // a few Linux and macOS hosts
		}
		g.hosts = append(g.hosts, h)
	}
	g.resolver = &bigServer{name: "resolver", a4: [4]byte{192, 0, 2, 53}, rtt: 900, ttl: 64}
	g.router = &bigServer{name: "router", a4: [4]byte{192, 0, 2, 254}, rtt: 400, ttl: 255}
	g.initServers()
	return g
}

func (g *bigGen) run() {
	g.arrival = -bigWarm
	for g.out.packets < g.max && g.out.err == nil {
		for len(g.heap) == 0 || g.arrival <= g.heap[0].at {
			g.push(g.newSession(g.arrival))
			g.arrival += 1 + int64(g.rng.ExpFloat64()*1e6/g.rate)
		}
		s := g.heap[0].s
		if s.at >= 0 && g.out.packets == 0 {
			g.st.midstream = len(g.heap) // the first packet of the capture
		}
		if g.next(s) {
			g.heap[0].at = s.at
			g.down(0)
		} else {
			if s.c.open {
				s.c.open = false
				g.st.open--
			}
			g.pop()
		}
	}
}

// ---------------------------------------------------------------- heap (by time, then id)

// bigHeapItem keeps the session's key next to its pointer, for the cache.
type bigHeapItem struct {
	at int64
	id uint64
	s  *bigSession
}

func (g *bigGen) less(i, j int) bool {
	a, b := &g.heap[i], &g.heap[j]
	return a.at < b.at || a.at == b.at && a.id < b.id
}

func (g *bigGen) push(s *bigSession) {
	g.heap = append(g.heap, bigHeapItem{s.at, s.id, s})
	i := len(g.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !g.less(i, p) {
			break
		}
		g.heap[i], g.heap[p] = g.heap[p], g.heap[i]
		i = p
	}
	if s.at >= 0 {
		g.st.peakLive = max(g.st.peakLive, len(g.heap))
	}
}

func (g *bigGen) pop() {
	last := len(g.heap) - 1
	g.heap[0] = g.heap[last]
	g.heap[last] = bigHeapItem{}
	g.heap = g.heap[:last]
	if last > 0 {
		g.down(0)
	}
}

func (g *bigGen) down(i int) {
	n := len(g.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && g.less(r, l) {
			m = r
		}
		if !g.less(m, i) {
			return
		}
		g.heap[i], g.heap[m] = g.heap[m], g.heap[i]
		i = m
	}
}

// ---------------------------------------------------------------- the script interpreter

// next emits the session's packet due at s.at and schedules the following
// one; false when the session has no packet left.
func (g *bigGen) next(s *bigSession) bool {
	st := &s.steps[s.i]
	c := &s.c
	d := int64(-1) // delay to the step's next packet; -1: the step is done
	switch st.kind {
	case kDNS:
		if s.k == 0 {
			g.openFlow(s, g.resolver, false, 53, 0)
			c.dnsID = uint16(g.rng.Uint32())
			g.udp(s, false, g.dnsMsg(st, c.dnsID, false))
			d = g.resolver.rtt + int64(g.rng.IntN(4000))
			if g.rng.IntN(4) == 0 {
				d += 10_000 + int64(g.rng.IntN(60_000)) // not cached: the resolver asks upstream
			}
		} else {
			g.udp(s, true, g.dnsMsg(st, c.dnsID, true))
		}
	case kConnect:
		if s.k == 0 {
			g.openFlow(s, st.srv, true, st.port, 0)
		}
		switch st.mode {
		case cOK:
			switch s.k {
			case 0:
				g.tcp(s, true, uint8(fSYN), c.ciss, 0, nil, 0, 0)
				d = st.srv.rtt
			case 1:
				g.tcp(s, false, uint8(fSYN|fACK), c.sseq-1, c.cseq, nil, 0, 0)
				d = 40 + int64(g.rng.IntN(200))
			case 2:
				g.tcp(s, true, uint8(fACK), c.cseq, c.sseq, nil, 0, 0)
			}
		case cDrop:
			g.tcp(s, true, uint8(fSYN), c.ciss, 0, nil, 0, 0)
			if s.k+1 < int(st.tries) {
				d = 1_000_000 << s.k // Windows: SYNs at 0, 1, 3, 7 s
			}
		case cRefuse:
			if s.k == 0 {
				g.tcp(s, true, uint8(fSYN), c.ciss, 0, nil, 0, 0)
				d = st.srv.rtt
			} else {
				g.tcp(s, false, uint8(fRST|fACK), 0, c.ciss+1, nil, 0, 0)
				g.closed(s)
			}
		case cICMP:
			if s.k == 0 {
				g.tcp(s, true, uint8(fSYN), c.ciss, 0, nil, 0, 0)
				d = g.router.rtt
			} else {
				g.icmpProhibited(s)
				g.closed(s)
			}
		}
	case kSend, kRecv:
		d = g.message(s, st, st.kind == kSend)
	case kClose:
		first := st.mode == sideClient
		switch s.k {
		case 0:
			if first {
				g.tcp(s, true, uint8(fFIN|fACK), c.cseq, c.sseq, nil, 0, 0)
				c.cseq++
				d = c.srv.rtt
			} else {
				g.tcp(s, false, uint8(fFIN|fACK), c.sseq, c.cseq, nil, 0, 0)
				c.sseq++
				d = c.ackd + int64(g.rng.IntN(3000))
			}
		case 1:
			if first {
				g.tcp(s, false, uint8(fFIN|fACK), c.sseq, c.cseq, nil, 0, 0)
				c.sseq++
				d = c.ackd
			} else {
				g.tcp(s, true, uint8(fFIN|fACK), c.cseq, c.sseq, nil, 0, 0)
				c.cseq++
				d = c.srv.rtt
			}
		case 2:
			g.tcp(s, first, uint8(fACK), pick(first, c.cseq, c.sseq), pick(first, c.sseq, c.cseq), nil, 0, 0)
			g.closed(s)
		}
	case kRST:
		if st.mode == sideServer {
			g.tcp(s, false, uint8(fRST|fACK), c.sseq, c.cseq, nil, 0, 0)
		} else {
			g.tcp(s, true, uint8(fRST|fACK), c.cseq, c.sseq, nil, 0, 0)
		}
		g.closed(s)
	case kUDP:
		if st.mode&udpNew != 0 {
			g.openFlow(s, st.srv, false, st.port, st.cport)
		}
		g.udp(s, st.mode&udpFromServer != 0, st.head)
	}
	if d >= 0 {
		s.k++
		s.at += d
		return true
	}
	s.i++
	s.k, s.off, s.seg, s.ackNext = 0, 0, 0, false
	if s.i == len(s.steps) {
		return false
	}
	s.at += s.steps[s.i].pre
	return true
}

func pick(c bool, a, b uint32) uint32 {
	if c {
		return a
	}
	return b
}

// message emits the next packet of a message from the client (fromClient) or
// the server: a data segment, or the receiver's ACK every second segment.
func (g *bigGen) message(s *bigSession, st *bigStep, fromClient bool) int64 {
	c := &s.c
	total := len(st.head) + st.bulk
	if s.ackNext {
		s.ackNext = false
		if fromClient {
			g.tcp(s, false, uint8(fACK), c.sseq, c.cseq, nil, 0, 0)
		} else {
			g.tcp(s, true, uint8(fACK), c.cseq, c.sseq, nil, 0, 0)
		}
		if s.off >= total {
			return -1
		}
		return g.afterSegment(s)
	}
	n := min(c.mss, total-s.off)
	fl := uint8(fACK)
	if s.off+n == total {
		fl |= uint8(fPSH)
	}
	if fromClient {
		g.tcp(s, true, fl, c.cseq, c.sseq, st, s.off, n)
		c.cseq += uint32(n)
	} else {
		g.tcp(s, false, fl, c.sseq, c.cseq, st, s.off, n)
		c.sseq += uint32(n)
	}
	s.off += n
	s.seg++
	last := s.off == total
	if s.seg%2 == 0 || last && st.ack {
		s.ackNext = true
		return c.ackd
	}
	if last {
		return -1
	}
	return g.afterSegment(s)
}

// afterSegment is the wait before the next segment of a message: back to back
// within the window, a round trip (and a larger window) at its end.
func (g *bigGen) afterSegment(s *bigSession) int64 {
	c := &s.c
	if s.seg%c.win == 0 {
		c.win = min(c.win*2, 64)
		return c.srv.rtt
	}
	return c.gap
}

// openFlow starts a new flow of the session to srv:port.
func (g *bigGen) openFlow(s *bigSession, srv *bigServer, tcp bool, port, cport uint16) {
	c := &s.c
	if c.open {
		c.open = false
		g.st.open--
	}
	v6 := s.v6 && srv != g.resolver
	if cport == 0 {
		cport = s.host.nextPort()
	}
	*c = bigConn{srv: srv, v6: v6, cport: cport, sport: port, win: 10,
		sid: uint16(g.rng.Uint32()), mss: 1460, cwin: 1026, swin: 502}
	if v6 {
		c.mss = 1440
	}
	if s.host.ttl == 64 {
		c.cwin = 2053
	}
	c.gap = 12 + int64(g.rng.IntN(150))
	c.ackd = 30 + int64(g.rng.IntN(400))
	if tcp {
		c.ciss, c.sseq = g.rng.Uint32(), g.rng.Uint32()
		c.cseq = c.ciss + 1
		c.sseq++ // the server's ISN is sseq-1
		c.open = true
		g.st.open++
		if s.at >= 0 {
			g.st.peakOpen = max(g.st.peakOpen, g.st.open)
		}
	}
	if s.at >= 0 {
		g.st.flows++
		if srv.a4[0] == 198 && srv.a4[3] < 100 {
			g.st.msgrFlows++
		}
	}
}

func (g *bigGen) closed(s *bigSession) {
	if s.c.open {
		s.c.open = false
		g.st.open--
	}
}

// ---------------------------------------------------------------- frames

// ipFrame writes the Ethernet and IP headers of a datagram between the
// session's client and src/dst and returns the frame and its transport part
// (l4len bytes, to be filled) and the pseudo-header checksum sum.
func (g *bigGen) ipFrame(s *bigSession, fromClient bool, other *bigServer, v6 bool, proto uint8, df bool, id uint16, l4len int) ([]byte, []byte, uint64) {
	b := g.buf[:]
	h := s.host
	if fromClient {
		copy(b[0:6], gatewayMAC)
		copy(b[6:12], h.mac[:])
	} else {
		copy(b[0:6], h.mac[:])
		copy(b[6:12], gatewayMAC)
	}
	var sum uint64
	if v6 {
		b[12], b[13] = 0x86, 0xdd
		ip := b[14:54]
		ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
		binary.BigEndian.PutUint16(ip[4:], uint16(l4len))
		ip[6] = proto
		if fromClient {
			ip[7] = h.ttl
			copy(ip[8:24], h.a6[:])
			copy(ip[24:40], other.a6[:])
		} else {
			ip[7] = other.ttl
			copy(ip[8:24], other.a6[:])
			copy(ip[24:40], h.a6[:])
		}
		sum = csumAdd(ip[8:40], uint64(l4len)+uint64(proto))
		return b[:54+l4len], b[54 : 54+l4len], sum
	}
	b[12], b[13] = 0x08, 0x00
	ip := b[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4len))
	if fromClient {
		ip[8] = h.ttl
		copy(ip[12:16], h.a4[:])
		copy(ip[16:20], other.a4[:])
	} else {
		ip[8] = other.ttl
		copy(ip[12:16], other.a4[:])
		copy(ip[16:20], h.a4[:])
	}
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[6], ip[7] = 0, 0
	if df {
		ip[6] = 0x40
	}
	ip[9] = proto
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^csumFold(csumAdd(ip, 0)))
	sum = csumAdd(ip[12:20], uint64(l4len)+uint64(proto))
	return b[:34+l4len], b[34 : 34+l4len], sum
}

// ipID is the IPv4 identification of the session's next packet from the
// client (the host's counter) or the server (the connection's), 0 for IPv6.
func (g *bigGen) ipID(s *bigSession, fromClient bool) uint16 {
	if s.c.v6 {
		return 0
	}
	if fromClient {
		s.host.ipID++
		return s.host.ipID - 1
	}
	s.c.sid++
	return s.c.sid - 1
}

// tcp emits a segment of the session's connection with n payload bytes of
// st's message from off.
func (g *bigGen) tcp(s *bigSession, fromClient bool, flags uint8, seq, ack uint32, st *bigStep, off, n int) {
	c := &s.c
	id := g.ipID(s, fromClient)
	if fromClient && flags&uint8(fSYN) != 0 {
		c.synID = id
	}
	if s.at < 0 { // warming up: keep the counters, write nothing
		return
	}
	hl := 20
	if flags&uint8(fSYN) != 0 {
		hl = 32
	}
	frame, t, sum := g.ipFrame(s, fromClient, c.srv, c.v6, 6, true, id, hl+n)
	if fromClient {
		binary.BigEndian.PutUint16(t[0:], c.cport)
		binary.BigEndian.PutUint16(t[2:], c.sport)
	} else {
		binary.BigEndian.PutUint16(t[0:], c.sport)
		binary.BigEndian.PutUint16(t[2:], c.cport)
	}
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = byte(hl/4) << 4
	t[13] = flags
	win := c.swin
	if fromClient {
		win = c.cwin
	}
	switch {
	case flags&uint8(fRST) != 0:
		win = 0
	case flags&uint8(fSYN) != 0 && fromClient:
		win = 64240
	case flags&uint8(fSYN) != 0:
		win = 65535
	}
	binary.BigEndian.PutUint16(t[14:], win)
	t[16], t[17], t[18], t[19] = 0, 0, 0, 0
	if hl == 32 {
		ws := byte(8)
		if !fromClient {
			ws = 7
		}
		copy(t[20:32], []byte{2, 4, byte(c.mss >> 8), byte(c.mss), 1, 3, 3, ws, 1, 1, 4, 2})
	}
	if n > 0 {
		st.fill(t[hl:hl+n], off)
	}
	binary.BigEndian.PutUint16(t[16:], ^csumFold(csumAdd(t, sum)))
	g.out.packet(s.at, frame)
}

// udp emits a datagram of the session's flow.
func (g *bigGen) udp(s *bigSession, fromServer bool, p []byte) {
	c := &s.c
	id := g.ipID(s, !fromServer)
	if s.at < 0 {
		return
	}
	frame, u, sum := g.ipFrame(s, !fromServer, c.srv, c.v6, 17, false, id, 8+len(p))
	if fromServer {
		binary.BigEndian.PutUint16(u[0:], c.sport)
		binary.BigEndian.PutUint16(u[2:], c.cport)
	} else {
		binary.BigEndian.PutUint16(u[0:], c.cport)
		binary.BigEndian.PutUint16(u[2:], c.sport)
	}
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(p)))
	u[6], u[7] = 0, 0
	copy(u[8:], p)
	ck := ^csumFold(csumAdd(u, sum))
	if ck == 0 {
		ck = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], ck)
	g.out.packet(s.at, frame)
}

// icmpProhibited answers the session's last SYN with ICMP 3/13 from the router (IPv4).
func (g *bigGen) icmpProhibited(s *bigSession) {
	c := &s.c
	if s.at < 0 {
		return
	}
	// The quoted datagram: the SYN's IP header and its first 8 TCP bytes.
	var q [28]byte
	q[0] = 0x45
	binary.BigEndian.PutUint16(q[2:], 20+32)
	binary.BigEndian.PutUint16(q[4:], c.synID)
	q[6], q[8], q[9] = 0x40, s.host.ttl, 6
	copy(q[12:16], s.host.a4[:])
	copy(q[16:20], c.srv.a4[:])
	binary.BigEndian.PutUint16(q[10:], ^csumFold(csumAdd(q[:20], 0)))
	binary.BigEndian.PutUint16(q[20:], c.cport)
	binary.BigEndian.PutUint16(q[22:], c.sport)
	binary.BigEndian.PutUint32(q[24:], c.ciss)

	frame, m, _ := g.ipFrame(s, false, g.router, false, 1, false, uint16(s.at/1000), 8+len(q))
	m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7] = 3, 13, 0, 0, 0, 0, 0, 0
	copy(m[8:], q[:])
	binary.BigEndian.PutUint16(m[2:], ^csumFold(csumAdd(m, 0)))
	g.out.packet(s.at, frame)
}

// dnsMsg builds the query or response of a kDNS step into a scratch buffer.
func (g *bigGen) dnsMsg(st *bigStep, id uint16, response bool) []byte {
	b := g.dnsBuf[:12]
	binary.BigEndian.PutUint16(b[0:], id)
	flags := uint16(0x0100) // RD
	if response {
		flags = 0x8180 | uint16(st.rcode)
	}
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], 1)
	an := 0
	if response && st.rcode == 0 && st.srv != nil {
		an = 1
	}
	binary.BigEndian.PutUint16(b[6:], uint16(an))
	b[8], b[9], b[10], b[11] = 0, 0, 0, 0
	for _, label := range strings.Split(st.name, ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0, byte(st.qtype>>8), byte(st.qtype), 0, 1)
	if an == 1 {
		b = append(b, 0xc0, 0x0c, byte(st.qtype>>8), byte(st.qtype), 0, 1, 0, 0, 0x01, 0x2c)
		if st.qtype == 28 {
			b = append(b, 0, 16)
			b = append(b, st.srv.a6[:]...)
		} else {
			b = append(b, 0, 4)
			b = append(b, st.srv.a4[:]...)
		}
	}
	return b
}

// fill copies bytes [off, off+len(dst)) of the step's message into dst: the
// head, then the bulk from the ring, framed as TLS records when st.tls.
func (st *bigStep) fill(dst []byte, off int) {
	if off < len(st.head) {
		n := copy(dst, st.head[off:])
		dst, off = dst[n:], off+n
	}
	q := off - len(st.head) // offset in the bulk
	for len(dst) > 0 {
		if !st.tls {
			bigRingRead(dst, st.roff+q)
			return
		}
		rec, in := q/tlsRecTot, q%tlsRecTot
		end := min((rec+1)*tlsRecTot, st.bulk)
		if in < 5 {
			var h [5]byte
			h[0], h[1], h[2] = 23, 3, 1
			binary.BigEndian.PutUint16(h[3:], uint16(end-rec*tlsRecTot-5))
			n := copy(dst, h[in:])
			dst, q = dst[n:], q+n
			continue
		}
		n := min(len(dst), end-q)
		bigRingRead(dst[:n], st.roff+q)
		dst, q = dst[n:], q+n
	}
}

// bigRing is the pseudo-random payload bytes (encrypted data, compressed bodies).
var bigRing = func() []byte {
	r := rand.New(rand.NewPCG(bigSeed2, bigSeed1))
	b := make([]byte, bigRingLen)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}()

func bigRingRead(dst []byte, pos int) {
	pos %= bigRingLen
	for len(dst) > 0 {
		n := copy(dst, bigRing[pos:])
		dst, pos = dst[n:], 0
	}
}

// csumAdd adds b (as big-endian 16-bit words, an odd last byte padded) to a
// ones'-complement sum kept in 64 bits.
func csumAdd(b []byte, sum uint64) uint64 {
	var carry uint64
	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	sum, carry = bits.Add64(sum, 0, carry)
	sum += carry
	if len(b) >= 4 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b)), 0)
		sum += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b)), 0)
		sum += carry
		b = b[2:]
	}
	if len(b) == 1 {
		sum, carry = bits.Add64(sum, uint64(b[0])<<8, 0)
		sum += carry
	}
	return sum
}

// csumFold folds a 64-bit ones'-complement sum to 16 bits.
func csumFold(sum uint64) uint16 {
	s := sum>>32 + sum&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}
