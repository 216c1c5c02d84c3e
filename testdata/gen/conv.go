package main

// The conversation builder: a capture is a clock plus a list of IP datagrams;
// TCP and UDP conversations emit packets at the clock with correct sequence
// numbers, lengths and checksums, and record the flow the classifier must find.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// baseTime is the instant every capture starts at.
var baseTime = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// Fixed addresses (documentation ranges only).
var (
	client4  = netip.MustParseAddr("192.0.2.10")
	client6  = netip.MustParseAddr("2001:db8::10")
	resolver = netip.MustParseAddr("192.0.2.53")
	router4  = netip.MustParseAddr("192.0.2.254")
	router6  = netip.MustParseAddr("2001:db8::fe")
)

// clientTTL is the Windows default TTL / hop limit.
const clientTTL = 128

// packet is one captured IP datagram; the link layer is added when a file is written.
type packet struct {
	ts    time.Time
	ip    []byte // IPv4 or IPv6 datagram
	out   bool   // sent by the client (outgoing), else received
	iface int    // pcapng interface index (link-multi.pcapng only)
}

// capture accumulates the packets and the ground truth of one file.
type capture struct {
	t0      time.Time
	now     time.Duration // clock, as an offset from t0
	gap     time.Duration // clock advance after each packet
	iface   int           // interface new packets are captured on
	pkts    []packet
	flows   []*flowExp
	lookups []lookupExp
	port    uint16 // next client ephemeral port
	convs   uint32 // conversations created, seeds ISNs and server IP IDs
	ipID    uint16 // client IPv4 identification counter
	dnsID   uint16
	frags   int // IP fragment packets written
}

func newCapture() *capture {
	return &capture{t0: baseTime, gap: 12 * time.Millisecond, port: 49152, ipID: 0x2a10, dnsID: 0x6d00}
}

// wait advances the clock.
func (c *capture) wait(d time.Duration) { c.now += d }

// at sets the clock to an offset from the capture start.
func (c *capture) at(d time.Duration) {
	if d < c.now {
		panic(fmt.Sprintf("clock going back from %v to %v", c.now, d))
	}
	c.now = d
}

func (c *capture) nextPort() uint16 { p := c.port; c.port++; return p }

// emit records a datagram at the clock, on the current interface, and advances the clock.
func (c *capture) emit(ip []byte, out bool) { c.emitOn(c.iface, ip, out) }

func (c *capture) emitOn(iface int, ip []byte, out bool) {
	c.pkts = append(c.pkts, packet{ts: c.t0.Add(c.now), ip: ip, out: out, iface: iface})
	c.now += c.gap
}

func (c *capture) clientAddr(server netip.Addr) netip.Addr {
	if server.Is4() {
		return client4
	}
	return client6
}

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// serialize lays the layers out with gopacket, fixing lengths and checksums.
func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serializeOpts, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipHeader describes the network layer of one datagram.
type ipHeader struct {
	src, dst netip.Addr
	proto    layers.IPProtocol
	id       uint16
	ttl      uint8
	df       bool
	ext      []byte            // IPv6 extension headers between the IPv6 header and proto
	extFirst layers.IPProtocol // the first extension header's type
}

// network returns the gopacket network layer for h.
func (h ipHeader) network() gopacket.NetworkLayer {
	if h.src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: h.ttl, Id: h.id, Protocol: h.proto,
			SrcIP: net.IP(h.src.AsSlice()), DstIP: net.IP(h.dst.AsSlice())}
		if h.df {
			ip.Flags = layers.IPv4DontFragment
		}
		return ip
	}
	next := h.proto
	if len(h.ext) > 0 {
		next = h.extFirst
	}
	return &layers.IPv6{Version: 6, HopLimit: h.ttl, NextHeader: next,
		SrcIP: net.IP(h.src.AsSlice()), DstIP: net.IP(h.dst.AsSlice())}
}

// datagram serializes an IP datagram carrying transport (which may be nil) and payload.
func (h ipHeader) datagram(transport gopacket.SerializableLayer, payload []byte) []byte {
	nl := h.network()
	ls := []gopacket.SerializableLayer{nl.(gopacket.SerializableLayer)}
	if len(h.ext) > 0 {
		ls = append(ls, gopacket.Payload(h.ext))
	}
	switch t := transport.(type) {
	case *layers.TCP:
		_ = t.SetNetworkLayerForChecksum(nl)
	case *layers.UDP:
		_ = t.SetNetworkLayerForChecksum(nl)
	case *layers.ICMPv6:
		_ = t.SetNetworkLayerForChecksum(nl)
	}
	if transport != nil {
		ls = append(ls, transport)
	}
	if len(payload) > 0 {
		ls = append(ls, gopacket.Payload(payload))
	}
	return serialize(ls...)
}

// ipv6Ext builds a Hop-by-Hop header followed by a Destination Options header,
// each 8 bytes (one PadN option), the last one pointing at next.
func ipv6Ext(next layers.IPProtocol) []byte {
	return []byte{
		byte(layers.IPProtocolIPv6Destination), 0, 1, 4, 0, 0, 0, 0, // Hop-by-Hop: PadN(4)
		byte(next), 0, 1, 4, 0, 0, 0, 0, // Destination Options: PadN(4)
	}
}

// ---------------------------------------------------------------- TCP

type tcpFlags uint8

const (
	fFIN tcpFlags = 1 << iota
	fSYN
	fRST
	fPSH
	fACK
)

// tcpConv is one TCP connection from the client to server.
type tcpConv struct {
	c          *capture
	cli, srv   netip.AddrPort
	ciss, siss uint32
	cseq, sseq uint32 // next sequence number of each side
	sid        uint16 // server IPv4 identification counter
	mss        int
	iface      int  // interface the connection is captured on
	ext        bool // client packets carry IPv6 Hop-by-Hop + Destination Options headers
	flow       *flowExp
	last       []byte // the last datagram emitted
}

// tcp starts a connection to server ("ip:port") and records its expected flow.
func (c *capture) tcp(server string, w want) *tcpConv {
	srv := netip.MustParseAddrPort(server)
	c.convs++
	n := c.convs
	t := &tcpConv{c: c, srv: srv, cli: netip.AddrPortFrom(c.clientAddr(srv.Addr()), c.nextPort()),
		ciss: 0x1a2b0000 + n*0x01000193, siss: 0x80000000 + n*0x0101a7f3, sid: uint16(0x4000 + n*0x111), mss: 1460,
		iface: c.iface}
	if srv.Addr().Is6() {
		t.mss = 1440
	}
	t.cseq, t.sseq = t.ciss, t.siss
	t.flow = c.addFlow("tcp", t.cli, t.srv, w)
	return t
}

func (t *tcpConv) emit(fromClient bool, fl tcpFlags, seq, ack uint32, payload []byte) {
	tcp := &layers.TCP{Seq: seq, Ack: ack, FIN: fl&fFIN != 0, SYN: fl&fSYN != 0, RST: fl&fRST != 0,
		PSH: fl&fPSH != 0, ACK: fl&fACK != 0}
	h := ipHeader{proto: layers.IPProtocolTCP, df: true}
	if fromClient {
		h.src, h.dst, h.ttl = t.cli.Addr(), t.srv.Addr(), clientTTL
		tcp.SrcPort, tcp.DstPort = layers.TCPPort(t.cli.Port()), layers.TCPPort(t.srv.Port())
		h.id = t.c.ipID
		t.c.ipID++
		tcp.Window = 1026
		if fl&fSYN != 0 {
			tcp.Window = 64240
			tcp.Options = synOptions(t.mss, 8)
		}
		if t.ext {
			h.ext, h.extFirst = ipv6Ext(layers.IPProtocolTCP), layers.IPProtocolIPv6HopByHop
		}
	} else {
		h.src, h.dst, h.ttl = t.srv.Addr(), t.cli.Addr(), 52
		tcp.SrcPort, tcp.DstPort = layers.TCPPort(t.srv.Port()), layers.TCPPort(t.cli.Port())
		h.id = t.sid
		t.sid++
		tcp.Window = 502
		if fl&fSYN != 0 {
			tcp.Window = 65535
			tcp.Options = synOptions(t.mss, 7)
		}
		if fl&fRST != 0 {
			tcp.Window = 0
		}
	}
	t.last = h.datagram(tcp, payload)
	t.flow.touch(t.c)
	t.c.emitOn(t.iface, t.last, fromClient)
}

func synOptions(mss int, wscale byte) []layers.TCPOption {
	m := make([]byte, 2)
	binary.BigEndian.PutUint16(m, uint16(mss))
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: m},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{wscale}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACKPermitted},
	}
}

// syn sends the client's SYN (again, if called again: a retransmission).
func (t *tcpConv) syn() *tcpConv {
	t.emit(true, fSYN, t.ciss, 0, nil)
	t.cseq = t.ciss + 1
	return t
}

// synRetries sends the SYN at each offset from now (e.g. 0, 1s, 3s, 7s).
func (t *tcpConv) synRetries(offsets ...time.Duration) *tcpConv {
	start := t.c.now
	for _, off := range offsets {
		t.c.at(start + off)
		t.syn()
	}
	return t
}

func (t *tcpConv) synAck() *tcpConv {
	t.emit(false, fSYN|fACK, t.siss, t.cseq, nil)
	t.sseq = t.siss + 1
	return t
}

// ack sends a bare ACK from the client.
func (t *tcpConv) ack() *tcpConv { t.emit(true, fACK, t.cseq, t.sseq, nil); return t }

// serverAck sends a bare ACK from the server.
func (t *tcpConv) serverAck() *tcpConv { t.emit(false, fACK, t.sseq, t.cseq, nil); return t }

// handshake is SYN, SYN/ACK, ACK.
func (t *tcpConv) handshake() *tcpConv { return t.syn().synAck().ack() }

// send sends client data, split into MSS-sized segments.
func (t *tcpConv) send(p []byte) *tcpConv {
	for _, s := range split(p, t.mss) {
		t.emit(true, fPSH|fACK, t.cseq, t.sseq, s)
		t.cseq += uint32(len(s))
	}
	return t
}

// recv sends server data, split into MSS-sized segments.
func (t *tcpConv) recv(p []byte) *tcpConv {
	for _, s := range split(p, t.mss) {
		t.emit(false, fPSH|fACK, t.sseq, t.cseq, s)
		t.sseq += uint32(len(s))
	}
	return t
}

// sendSegments sends client data cut at the given sizes (the rest in a final
// segment), emitting the segments in the given order (indexes into the cut).
func (t *tcpConv) sendSegments(p []byte, sizes []int, order []int) *tcpConv {
	var segs [][]byte
	var seqs []uint32
	seq := t.cseq
	for _, n := range sizes {
		segs, seqs = append(segs, p[:n]), append(seqs, seq)
		p, seq = p[n:], seq+uint32(n)
	}
	segs, seqs = append(segs, p), append(seqs, seq)
	for _, i := range order {
		t.emit(true, fPSH|fACK, seqs[i], t.sseq, segs[i])
	}
	t.cseq = seq + uint32(len(p))
	return t
}

// close is the client's FIN, the server's FIN, the client's last ACK.
func (t *tcpConv) close() *tcpConv {
	t.emit(true, fFIN|fACK, t.cseq, t.sseq, nil)
	t.cseq++
	t.emit(false, fFIN|fACK, t.sseq, t.cseq, nil)
	t.sseq++
	return t.ack()
}

// serverClose is the server's FIN, the client's FIN, the server's last ACK.
func (t *tcpConv) serverClose() *tcpConv {
	t.emit(false, fFIN|fACK, t.sseq, t.cseq, nil)
	t.sseq++
	t.emit(true, fFIN|fACK, t.cseq, t.sseq, nil)
	t.cseq++
	return t.serverAck()
}

// rst is a RST/ACK from the server in an open connection.
func (t *tcpConv) rst() *tcpConv { t.emit(false, fRST|fACK, t.sseq, t.cseq, nil); return t }

// refuse answers the SYN with RST/ACK.
func (t *tcpConv) refuse() *tcpConv { t.emit(false, fRST|fACK, 0, t.ciss+1, nil); return t }

func split(p []byte, n int) [][]byte {
	var out [][]byte
	for len(p) > n {
		out, p = append(out, p[:n]), p[n:]
	}
	return append(out, p)
}

// ---------------------------------------------------------------- UDP

// udpConv is one UDP exchange between the client and server.
type udpConv struct {
	c        *capture
	cli, srv netip.AddrPort
	sid      uint16
	fragID   uint32
	flow     *flowExp // nil for DNS to the resolver
	last     []byte
}

// udp starts a UDP conversation to server ("ip:port") and records its expected flow.
func (c *capture) udp(server string, w want) *udpConv {
	u := c.udpNoFlow(netip.MustParseAddrPort(server), c.nextPort())
	u.flow = c.addFlow("udp", u.cli, u.srv, w)
	return u
}

func (c *capture) udpNoFlow(srv netip.AddrPort, port uint16) *udpConv {
	c.convs++
	return &udpConv{c: c, srv: srv, cli: netip.AddrPortFrom(c.clientAddr(srv.Addr()), port),
		sid: uint16(0x5000 + c.convs*0x95), fragID: 0xf00d0000 + c.convs}
}

func (u *udpConv) header(fromClient bool) (ipHeader, *layers.UDP) {
	h := ipHeader{proto: layers.IPProtocolUDP}
	udp := &layers.UDP{}
	if fromClient {
		h.src, h.dst, h.ttl, h.id = u.cli.Addr(), u.srv.Addr(), clientTTL, u.c.ipID
		u.c.ipID++
		udp.SrcPort, udp.DstPort = layers.UDPPort(u.cli.Port()), layers.UDPPort(u.srv.Port())
	} else {
		h.src, h.dst, h.ttl, h.id = u.srv.Addr(), u.cli.Addr(), 52, u.sid
		u.sid++
		udp.SrcPort, udp.DstPort = layers.UDPPort(u.srv.Port()), layers.UDPPort(u.cli.Port())
	}
	return h, udp
}

func (u *udpConv) emit(fromClient bool, p []byte) *udpConv {
	h, udp := u.header(fromClient)
	u.last = h.datagram(udp, p)
	if u.flow != nil {
		u.flow.touch(u.c)
	}
	u.c.emit(u.last, fromClient)
	return u
}

func (u *udpConv) send(p []byte) *udpConv { return u.emit(true, p) }
func (u *udpConv) recv(p []byte) *udpConv { return u.emit(false, p) }

// sendEvery sends p n times, every interval.
func (u *udpConv) sendEvery(p []byte, n int, interval time.Duration) *udpConv {
	for i := 0; i < n; i++ {
		if i > 0 {
			u.c.wait(interval - u.c.gap)
		}
		u.send(p)
	}
	return u
}

// sendFragmented sends p from the client as IP fragments carrying at most
// fragSize bytes of the UDP datagram each (a multiple of 8); the fragment at
// index dup (if >= 0) is sent twice.
func (u *udpConv) sendFragmented(p []byte, fragSize int, dup int) *udpConv {
	h, udp := u.header(true)
	// Serialize the whole datagram once to get the UDP checksum right, then cut its transport part.
	whole := h.datagram(udp, p)
	hlen := 20
	if h.src.Is6() {
		hlen = 40
	}
	l4 := whole[hlen:]
	chunks := split(l4, fragSize)
	for i, chunk := range chunks {
		off := i * fragSize
		more := i < len(chunks)-1
		var dg []byte
		if h.src.Is4() {
			ip := h.network().(*layers.IPv4)
			ip.FragOffset = uint16(off / 8)
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
			dg = serialize(ip, gopacket.Payload(chunk))
		} else {
			ip := h.network().(*layers.IPv6)
			ip.NextHeader = layers.IPProtocolIPv6Fragment
			fr := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: uint16(off / 8),
				MoreFragments: more, Identification: u.fragID}
			dg = serialize(ip, fr, gopacket.Payload(chunk))
		}
		n := 1
		if i == dup {
			n = 2
		}
		for j := 0; j < n; j++ {
			u.flow.touch(u.c)
			u.c.emit(dg, true)
			u.c.frags++
		}
	}
	return u
}

// ---------------------------------------------------------------- ICMP

// icmpUnreachable sends an ICMP destination unreachable (type 3) from `from`
// to the client quoting the IP header and first 8 payload bytes of orig.
func (c *capture) icmpUnreachable(from netip.Addr, code uint8, orig []byte) {
	ihl := int(orig[0]&0x0f) * 4
	quote := orig[:ihl+8]
	h := ipHeader{src: from, dst: client4, proto: layers.IPProtocolICMPv4, ttl: 254, id: 0x0b00 + uint16(len(c.pkts))}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, code)}
	c.emit(h.datagram(icmp, quote), false)
}

// icmp6Unreachable sends an ICMPv6 destination unreachable (type 1) quoting orig whole.
func (c *capture) icmp6Unreachable(from netip.Addr, code uint8, orig []byte) {
	h := ipHeader{src: from, dst: client6, proto: layers.IPProtocolICMPv6, ttl: 255}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, code)}
	body := append([]byte{0, 0, 0, 0}, orig...) // 4 unused bytes, then the invoking packet
	c.emit(h.datagram(icmp, body), false)
}

// ping is an ICMP echo request and its reply (Windows ping data).
func (c *capture) ping(dst netip.Addr, seq uint16) {
	data := []byte("abcdefghijklmnopqrstuvwabcdefghi")
	req := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: seq}
	h := ipHeader{src: client4, dst: dst, proto: layers.IPProtocolICMPv4, ttl: clientTTL, id: c.ipID}
	c.ipID++
	c.emit(h.datagram(req, data), true)
	rep := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 1, Seq: seq}
	h = ipHeader{src: dst, dst: client4, proto: layers.IPProtocolICMPv4, ttl: 52, id: 0x7100 + seq}
	c.emit(h.datagram(rep, data), false)
}
