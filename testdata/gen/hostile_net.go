package main

// Hostile link, network and transport layers: records cut short, header
// lengths that lie, IPv6 extension chains, ICMP quotes, fragments, jumbo frames.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	ns6     = netip.MustParseAddr("2001:db8:1::20")
	echo6   = netip.MustParseAddr("2001:db8:1::50")
	nsAddr  = netip.MustParseAddr(nsIP)
	echoAdr = netip.MustParseAddr(echoIP)
)

// ---------------------------------------------------------------- byte surgery

func set8(b []byte, off int, v byte) []byte    { b[off] = v; return b }
func set16(b []byte, off int, v uint16) []byte { binary.BigEndian.PutUint16(b[off:], v); return b }

// fix4 recomputes the IPv4 header checksum over the header the IHL claims
// (20 bytes when it claims less, or more than there is).
func fix4(ip []byte) []byte {
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return ip
	}
	n := int(ip[0]&0x0f) * 4
	if n < 20 || n > len(ip) {
		n = 20
	}
	ip[10], ip[11] = 0, 0
	var s uint32
	for i := 0; i+1 < n; i += 2 {
		s += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	return ip
}

// seg is a well-formed TCP segment (the builder's checksums) to be damaged.
func (h *hostile) seg(src, dst netip.AddrPort, fl tcpFlags, seq, ack uint32, payload []byte, opts ...layers.TCPOption) []byte {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack,
		FIN: fl&fFIN != 0, SYN: fl&fSYN != 0, RST: fl&fRST != 0, PSH: fl&fPSH != 0, ACK: fl&fACK != 0,
		Window: 64240, Options: opts}
	hd := ipHeader{src: src.Addr(), dst: dst.Addr(), proto: layers.IPProtocolTCP, ttl: clientTTL, id: h.ipID, df: true}
	h.ipID++
	return hd.datagram(tcp, payload)
}

// dg is a well-formed UDP datagram to be damaged.
func (h *hostile) dg(src, dst netip.AddrPort, payload []byte) []byte {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	hd := ipHeader{src: src.Addr(), dst: dst.Addr(), proto: layers.IPProtocolUDP, ttl: clientTTL, id: h.ipID}
	h.ipID++
	return hd.datagram(udp, payload)
}

// rawIPv6 is an IPv6 header with the given next header and payload length, then body.
func rawIPv6(src, dst netip.Addr, next byte, plen int, body []byte) []byte {
	b := make([]byte, 40, 40+len(body))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	b[6], b[7] = next, 64
	copy(b[8:24], src.AsSlice())
	copy(b[24:40], dst.AsSlice())
	return append(b, body...)
}

// rawTCP is a bare TCP header (data offset 5, no checksum) and payload.
func rawTCP(sport, dport uint16, seq uint32, flags byte, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12], b[13] = 5<<4, flags
	binary.BigEndian.PutUint16(b[14:], 64240)
	return append(b, payload...)
}

// ethFrame is an Ethernet frame of any EtherType around any payload.
func ethFrame(etype uint16, payload []byte) []byte {
	b := append(append([]byte(nil), gatewayMAC...), clientMAC...)
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

// v6Ext is an 8n-byte extension header (Hop-by-Hop, Routing, Destination
// Options layout) pointing at next, claiming hdrLen, padded with PadN.
func v6Ext(next byte, hdrLen byte, body int) []byte {
	b := make([]byte, 8*body)
	b[0], b[1] = next, hdrLen
	if len(b) >= 4 {
		b[2], b[3] = 1, byte(len(b)-4) // PadN
	}
	return b
}

// ---------------------------------------------------------------- truncated.pcap

func hostileTruncated() *hostile {
	h := newHostile()
	c := h.capture

	u := c.udpNoFlow(netip.AddrPortFrom(resolver, 53), c.nextPort())
	q, r := dnsPair("login.live.com", loginIP)
	u.send(q)
	h.cut(20+4, "DNS query captured to 4 bytes of its UDP header")
	u.recv(r)
	h.cut(20+8+30, "DNS answer captured to 30 bytes of the DNS message (inside the answer record)")

	t := c.tcp(loginIP+":443", want{})
	t.handshake().send(tlsHello("login.live.com", 20))
	h.cut(20+20+60, "ClientHello captured to 60 bytes of its TLS record: cut inside the cipher suites, before the server_name")
	t.recv(tlsServer(20))
	h.cut(20+20+7, "ServerHello captured to 7 bytes of its TLS record")
	t.ack().close()

	t = c.tcp(nsIP+":1863", want{})
	t.syn()
	h.cut(12, "SYN captured to 12 bytes of its IPv4 header")
	t.synAck()
	h.cut(19, "SYN/ACK captured to 19 bytes of its IPv4 header")
	t.ack()
	t.send(msnpVER)
	h.cut(20+10, "MSNP VER segment captured to 10 bytes of its TCP header")
	t.recv(msnpVERok)
	h.cut(20+19, "MSNP answer captured to 19 bytes of its TCP header")
	t.send(msnpCVR)
	h.cut(20+20+5, "MSNP CVR captured to 5 bytes of its payload")
	t.close()

	t = c.tcp("[2001:db8:1::20]:1863", want{})
	t.syn()
	h.cut(30, "IPv6 SYN captured to 30 bytes of its IPv6 header")
	t.synAck()
	h.cut(40+12, "IPv6 SYN/ACK captured to 12 bytes of its TCP header")
	t.ack().send(msnpVER).recv(msnpVERok).close()

	e := c.udp(echoIP+":7001", want{})
	e.send(echoProbe(e.cli, 0x5eed0020))
	h.cut(20+6, "echo probe captured to 6 bytes of its UDP header")
	e.send(echoProbe(e.cli, 0x5eed0021))
	h.cut(-4, "frame captured to 10 bytes of its Ethernet header")
	e.send(echoProbe(e.cli, 0x5eed0022))
	h.cut(-14, "record of 0 bytes (length on the wire 62)")
	e.send(echoProbe(e.cli, 0x5eed0023))
	h.lastMeta().origlen = 20
	h.note(false, "record claiming 20 bytes on the wire, 62 captured (len < caplen)")
	e.send(echoProbe(e.cli, 0x5eed0024))
	h.lastMeta().origlen = 0xffffffff
	h.note(false, "record claiming 4294967295 bytes (4 GB) on the wire, 62 captured")
	e.recv(echoReply(e.cli, netip.MustParseAddr(echoTestIP), 0x5eed0024))
	return h
}

// dnsPair is the gopacket-built query and answer for name.
func dnsPair(name, addr string) (q, r []byte) {
	a := netip.MustParseAddr(addr)
	qq := layers.DNSQuestion{Name: []byte(name), Type: qtypeOf(a), Class: layers.DNSClassIN}
	q = serialize(&layers.DNS{ID: 0x6e00, RD: true, Questions: []layers.DNSQuestion{qq}})
	r = serialize(&layers.DNS{ID: 0x6e00, QR: true, RD: true, RA: true, Questions: []layers.DNSQuestion{qq},
		Answers: []layers.DNSResourceRecord{rr(name, a)}})
	return q, r
}

// ---------------------------------------------------------------- snaplen64

// hostileSession is a whole sign-in: every record will be cut by the snap length.
func hostileSession() *hostile {
	h := newHostile()
	c := h.capture
	c.resolve("messenger.hotmail.com", nsIP)
	c.tcp(nsIP+":1863", want{}).handshake().msnpLogin().recv(lines("XFR 3 NS 198.51.100.21:1863 U D")).close()
	c.tcp(ns2IP+":1863", want{}).handshake().msnpLogin().recv(cat(gcfPolicy, msnpSSOnonc)).send(msnpUSRS).
		recv(msnpUSROK).ack().close()
	c.resolve("login.live.com", loginIP)
	c.tcp(loginIP+":443", want{}).tlsOK("login.live.com", 21)
	c.resolve("local-bay.contacts.msn.com", contactsIP)
	c.tcp(contactsIP+":443", want{}).handshake().send(tlsHello("local-bay.contacts.msn.com", 22)).rst()
	c.tcp(gwIP+":80", want{}).handshake().send(gatewayOpen("gateway.messenger.hotmail.com", msnpVER)).
		recv(c.gatewayReply("1055374441.28543", gwIP, msnpVERok)).ack().close()
	u := c.udp(echoIP+":7001", want{})
	u.send(echoProbe(u.cli, 0x5eed0030)).recv(echoReply(u.cli, netip.MustParseAddr(echoTestIP), 0x5eed0030))
	c.tcp("[2001:db8:1::20]:1863", want{}).handshake().msnpLogin().close()
	return h
}

// ---------------------------------------------------------------- ipv4-header.pcap

func hostileIPv4() *hostile {
	h := newHostile()
	cli, srv := netip.AddrPortFrom(client4, 49500), netip.AddrPortFrom(nsAddr, 1863)
	syn := func() []byte { return h.seg(cli, srv, fSYN, 0x1000, 0, nil) }
	bad := func(ip []byte, what string) { h.raw(fix4(ip), true, true, what) }
	bad(set8(syn(), 0, 0x40), "IPv4 IHL 0")
	bad(set8(syn(), 0, 0x44), "IPv4 IHL 4 (a 16-byte header)")
	bad(set8(syn(), 0, 0x4f), "IPv4 IHL 15 (60 bytes) in a 40-byte datagram")
	bad(set16(syn(), 2, 12), "IPv4 total length 12, less than its 20-byte header")
	h.raw(fix4(set16(syn(), 2, 0)), true, false, "IPv4 total length 0 (TSO captures show it: may be taken for a TSO segment)")
	bad(set8(set16(syn(), 2, 22), 0, 0x46), "IPv4 total length 22, less than its IHL (6: 24 bytes)")
	bad(set16(syn(), 2, 30), "IPv4 total length 30: the datagram ends inside the TCP header (10 bytes of 20)")
	bad(set16(syn(), 2, 1500), "IPv4 total length 1500 in a 40-byte datagram captured whole (caplen == len): "+
		"the header claims 1460 bytes the wire never carried")
	bad(set16(syn(), 2, 65535), "IPv4 total length 65535 in a 40-byte datagram captured whole (caplen == len)")
	bad(syn()[:16], "16 bytes of IPv4 on the wire, captured whole: shorter than an IPv4 header")
	bad(set8(syn(), 0, 0x55), "version 5 under EtherType IPv4")
	h.rawFrame(ethFrame(0x0800, h.seg(netip.AddrPortFrom(client6, 49501), netip.AddrPortFrom(ns6, 1863), fSYN, 1, 0, nil)),
		true, "an IPv6 datagram under EtherType IPv4")

	// Well formed: IHL 15 with 40 bytes of options (NOPs, then end of options).
	ip := syn()
	opts := append(bytes.Repeat([]byte{1}, 39), 0)
	ip = append(append(ip[:20:20], opts...), ip[20:]...)
	ip = fix4(set16(set8(ip, 0, 0x4f), 2, uint16(len(ip))))
	h.raw(ip, true, false, "IPv4 IHL 15 with 40 bytes of options: well formed")

	h.tcp(nsIP+":1863", want{}).tinyMSNP()
	return h
}

// ---------------------------------------------------------------- tcp-offset.pcap

func hostileTCP() *hostile {
	h := newHostile()
	cli, srv := netip.AddrPortFrom(client4, 49510), netip.AddrPortFrom(nsAddr, 1863)
	syn := func() []byte { return h.seg(cli, srv, fSYN, 0x2000, 0, nil) }
	bad := func(ip []byte, what string) { h.raw(fix4(ip), true, true, what) }
	bad(set8(syn(), 32, 0x00), "TCP data offset 0")
	bad(set8(syn(), 32, 0x40), "TCP data offset 4 (a 16-byte header)")
	bad(set8(syn(), 32, 0xf0), "TCP data offset 15 (60 bytes) in a 20-byte segment")
	bad(set8(syn(), 32, 0x60), "TCP data offset 6 (24 bytes) in a 20-byte segment")
	data := h.seg(cli, srv, fPSH|fACK, 0x2001, 1, msnpVER)
	bad(set8(data, 32, 0xf0), fmt.Sprintf("TCP data offset 15 (60 bytes) in a %d-byte segment carrying MSNP", len(data)-20))
	short := syn()[:32]
	bad(set16(short, 2, 32), "a 12-byte TCP segment (IPv4 total length 32): shorter than a TCP header")
	bad(set16(syn()[:20], 2, 20), "an IPv4 datagram carrying protocol TCP and no bytes")

	// TCP options whose lengths lie: the offset is right, the options are not.
	lying := h.seg(cli, srv, fSYN, 0x2000, 0, nil, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{5, 0xb4}},
		layers.TCPOption{OptionType: layers.TCPOptionKindNop}, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{8}})
	h.raw(set8(set8(lying, 41, 255), 46, 0), true, false, "TCP options with lengths 255 and 0 (the data offset is right)")

	// Well formed: data offset 15, 40 bytes of NOPs, then MSNP.
	nops := make([]layers.TCPOption, 40)
	for i := range nops {
		nops[i].OptionType = layers.TCPOptionKindNop
	}
	t := h.tcp(nsIP+":1863", want{})
	t.handshake()
	h.raw(h.seg(t.cli, t.srv, fPSH|fACK, t.cseq, t.sseq, msnpVER, nops...), true, false,
		"TCP data offset 15 with 40 bytes of NOP options, then MSNP: well formed")
	t.cseq += uint32(len(msnpVER))
	t.recv(msnpVERok).close()
	return h
}

// ---------------------------------------------------------------- udp-length.pcap

func hostileUDP() *hostile {
	h := newHostile()
	cli, srv := netip.AddrPortFrom(client4, 49520), netip.AddrPortFrom(echoAdr, 7001)
	probe := func() []byte { return h.dg(cli, srv, echoProbe(cli, 0x5eed0040)) }
	bad := func(ip []byte, what string) { h.raw(fix4(ip), true, true, what) }
	bad(set16(probe(), 24, 0), "UDP length 0 (IPv4: no jumbograms)")
	bad(set16(probe(), 24, 7), "UDP length 7, less than its 8-byte header")
	bad(set16(probe(), 24, 1000), "UDP length 1000 in a 28-byte datagram captured whole (caplen == len)")
	q, _ := dnsPair("echo.edge.messenger.live.com", echoIP)
	dq := h.dg(netip.AddrPortFrom(client4, 49521), netip.AddrPortFrom(resolver, 53), q)
	bad(set16(dq, 24, 65535), "DNS query with UDP length 65535, captured whole (caplen == len)")
	bad(set16(probe()[:24], 2, 24), "a 4-byte UDP datagram (IPv4 total length 24): shorter than a UDP header")
	h.raw(fix4(set16(probe(), 24, 12)), true, false, "UDP length 12 in a 28-byte datagram: 16 bytes of trailer after the payload")

	u := h.udp(echoIP+":7001", want{})
	u.send(echoProbe(u.cli, 0x5eed0041)).recv(echoReply(u.cli, netip.MustParseAddr(echoTestIP), 0x5eed0041))
	return h
}

// ---------------------------------------------------------------- ipv6-length.pcap

func hostileIPv6Length() *hostile {
	h := newHostile()
	cli, srv := netip.AddrPortFrom(client6, 49530), netip.AddrPortFrom(ns6, 1863)
	syn := func() []byte { return h.seg(cli, srv, fSYN, 0x3000, 0, nil) }
	bad := func(ip []byte, what string) { h.raw(ip, true, true, what) }
	bad(set16(syn(), 4, 1000), "IPv6 payload length 1000 in a 60-byte datagram captured whole (caplen == len)")
	bad(set16(syn(), 4, 65535), "IPv6 payload length 65535 in a 60-byte datagram captured whole (caplen == len)")
	bad(set16(syn(), 4, 8), "IPv6 payload length 8: the datagram ends inside the TCP header")
	bad(syn()[:30], "30 bytes of IPv6 on the wire, captured whole: shorter than an IPv6 header")
	h.rawFrame(ethFrame(0x86dd, set8(syn(), 0, 0x70)), true, "version 7 under EtherType IPv6")
	h.rawFrame(ethFrame(0x86dd, h.seg(netip.AddrPortFrom(client4, 49531), netip.AddrPortFrom(nsAddr, 1863), fSYN, 1, 0, nil)),
		true, "an IPv4 datagram under EtherType IPv6")
	h.raw(set16(syn(), 4, 0), true, false, "IPv6 payload length 0 without a Jumbo Payload option (as GSO captures show it)")

	h.tcp("[2001:db8:1::20]:1863", want{}).tinyMSNP()
	return h
}

// ---------------------------------------------------------------- ipv6-ext.pcap

func hostileIPv6Ext() *hostile {
	h := newHostile()
	src, dst := client6, ns6
	syn := rawTCP(49540, 1863, 0x4000, 0x02, nil)
	v6 := func(next byte, body []byte) []byte { return rawIPv6(src, dst, next, len(body), body) }
	bad := func(ip []byte, what string) { h.raw(ip, true, true, what) }

	bad(v6(0, cat(v6Ext(6, 255, 1), syn[:8])), "Hop-by-Hop header claiming 2048 bytes in a 16-byte payload")
	bad(v6(43, cat(v6Ext(6, 200, 1), syn)), "Routing header claiming 1608 bytes in a 28-byte payload")
	ah := make([]byte, 12)
	ah[0], ah[1] = 6, 250
	bad(v6(51, cat(ah, syn)), "Authentication Header claiming 1008 bytes in a 32-byte payload")
	bad(v6(44, []byte{6, 0, 0, 0}), "Fragment header cut to 4 bytes by the payload length")
	chain := v6Ext(6, 0, 1)
	bad(rawIPv6(src, dst, 60, 8, cat(chain, syn)), "Destination Options header, then TCP, with payload length 8: the chain ends where the TCP header should begin")
	var hbh []byte
	for i := 0; i < 10; i++ {
		next := byte(0)
		if i == 9 {
			next = 6
		}
		hbh = append(hbh, v6Ext(next, 0, 1)...)
	}
	bad(v6(0, cat(hbh, syn)), "10 Hop-by-Hop headers in a row (Hop-by-Hop may only come first)")

	// Legal (RFC 8200 §4.1 asks to accept any number of headers) but hostile: the
	// auditor may give up on them (and count them malformed) but must not spin.
	deep := func(n int) []byte {
		var b []byte
		for i := 0; i < n; i++ {
			next := byte(60)
			if i == n-1 {
				next = 6
			}
			b = append(b, v6Ext(next, 0, 1)...)
		}
		return b
	}
	h.raw(v6(60, cat(deep(12), syn)), true, false, "12 Destination Options headers, then a TCP SYN")
	h.raw(v6(60, cat(deep(100), syn)), true, false, "100 Destination Options headers, then a TCP SYN")
	loop := make([]byte, 8*16)
	for i := 0; i < 16; i++ {
		loop[8*i] = 43 // each Routing header names a Routing header next, forever
	}
	h.raw(v6(43, loop), true, false, "16 Routing headers, each naming another Routing header next, to the end of the packet")

	// Well formed.
	frag := []byte{6, 0, 0, 0, 0, 0, 0, 0x2a} // offset 0, M=0: an atomic fragment
	ok := cat(v6Ext(60, 0, 1), v6Ext(43, 0, 1), []byte{44, 0, 0, 0, 0, 0, 0, 0}, frag, syn)
	h.raw(v6(0, ok), true, false, "Hop-by-Hop, Destination Options, Routing and an atomic Fragment header, then a TCP SYN: well formed")
	h.raw(v6(0, cat(v6Ext(59, 0, 1), []byte("trailing bytes after No Next Header"))), true, false,
		"Hop-by-Hop then No Next Header, with trailing bytes: well formed")
	return h
}

// ---------------------------------------------------------------- icmp-quotes.pcap

func hostileICMP() *hostile {
	h := newHostile()
	c := h.capture
	t := c.tcp(nsIP+":1863", want{})
	t.syn()
	orig := t.last
	q := func(n int) []byte { return append([]byte(nil), orig[:n]...) }
	icmp4 := func(typ, code uint8, quote []byte, what string) {
		hd := ipHeader{src: router4, dst: client4, proto: layers.IPProtocolICMPv4, ttl: 254, id: 0x0c00 + uint16(len(c.pkts))}
		h.raw(hd.datagram(&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, quote), false, false, what)
	}
	icmp4(3, 13, q(12), "ICMP 3/13 quoting 12 bytes of an IPv4 header")
	icmp4(3, 13, set8(q(28), 0, 0x42), "ICMP 3/13 quoting an IPv4 header with IHL 2")
	icmp4(3, 13, set8(q(28), 0, 0x4f), "ICMP 3/13 quoting an IPv4 header with IHL 15 in 28 bytes")
	icmp4(3, 13, set16(q(28), 2, 3), "ICMP 3/13 quoting an IPv4 header with total length 3")
	icmp4(3, 13, bytes.Repeat([]byte{0xff}, 28), "ICMP 3/13 quoting 28 bytes of 0xff")
	icmp4(3, 13, make([]byte, 28), "ICMP 3/13 quoting 28 zero bytes")
	icmp4(3, 13, q(22), "ICMP 3/13 quoting 2 bytes of the TCP header")
	icmp4(3, 13, set16(q(28), 6, 0x00b9), "ICMP 3/13 quoting a later fragment (offset 1480)")
	icmp4(3, 13, nil, "ICMP 3/13 quoting nothing")
	icmp4(11, 0, fill(40, 28), "ICMP 11/0 (time exceeded) quoting 28 bytes of garbage")
	icmp4(12, 0, h.seg(netip.AddrPortFrom(client6, 49550), netip.AddrPortFrom(ns6, 1863), fSYN, 1, 0, nil)[:48],
		"ICMP 12/0 (parameter problem) quoting an IPv6 header")
	// An ICMP error quoting an ICMP error quoting the SYN.
	inner := ipHeader{src: router4, dst: client4, proto: layers.IPProtocolICMPv4, ttl: 254, id: 0x0bff}.
		datagram(&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 13)}, q(28))
	icmp4(3, 13, inner, "ICMP 3/13 quoting an ICMP 3/13 quoting the SYN")
	h.raw(fix4(ipv4Proto(router4, client4, 1, []byte{3, 13, 0, 0})), false, true, "an ICMP message of 4 bytes (less than its 8-byte header)")

	t6 := c.tcp("[2001:db8:1::21]:1863", want{})
	t6.syn()
	orig6 := t6.last
	icmp6 := func(typ, code uint8, quote []byte, what string) {
		hd := ipHeader{src: router6, dst: client6, proto: layers.IPProtocolICMPv6, ttl: 255}
		h.raw(hd.datagram(&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}, append([]byte{0, 0, 0, 0}, quote...)),
			false, false, what)
	}
	icmp6(1, 1, orig6[:20], "ICMPv6 1/1 quoting 20 bytes of an IPv6 header")
	icmp6(1, 1, set16(append([]byte(nil), orig6...), 4, 65535), "ICMPv6 1/1 quoting an IPv6 header with payload length 65535")
	var deep []byte
	for i := 0; i < 12; i++ {
		deep = append(deep, v6Ext(60, 0, 1)...)
	}
	icmp6(1, 1, rawIPv6(client6, ns6, 60, len(deep), deep), "ICMPv6 1/1 quoting 12 Destination Options headers, each naming another")
	icmp6(1, 1, rawIPv6(client6, ns6, 0, 16, cat(v6Ext(6, 255, 1), []byte{0xc1, 0x84})), "ICMPv6 1/1 quoting a Hop-by-Hop header claiming 2048 bytes")
	icmp6(2, 0, fill(41, 48), "ICMPv6 2/0 (packet too big) quoting 48 bytes of garbage")
	h.raw(rawIPv6(router6, client6, 58, 4, []byte{1, 1, 0, 0}), false, true, "an ICMPv6 message of 4 bytes (less than its 8-byte header)")

	// Last, a proper quote: the SYN's flow ends icmp_unreachable.
	c.icmpUnreachable(router4, 13, orig)
	return h
}

// ipv4Proto is a 20-byte IPv4 header for proto, then payload.
func ipv4Proto(src, dst netip.Addr, proto byte, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	b[8], b[9] = 64, proto
	copy(b[12:16], src.AsSlice())
	copy(b[16:20], dst.AsSlice())
	return append(b, payload...)
}

// ---------------------------------------------------------------- ethernet-junk.pcap

func hostileEthernet() *hostile {
	h := newHostile()
	syn := h.seg(netip.AddrPortFrom(client4, 49560), netip.AddrPortFrom(nsAddr, 1863), fSYN, 0x5000, 0, nil)
	h.rawFrame(nil, true, "an empty frame (0 bytes on the wire)")
	h.rawFrame(ethFrame(0x0800, nil)[:13], true, "a 13-byte frame: shorter than an Ethernet header")
	h.rawFrame(ethFrame(0x0800, nil), true, "EtherType IPv4 and no payload")
	h.rawFrame(ethFrame(0x86dd, make([]byte, 39)), true, "EtherType IPv6 and 39 bytes")
	h.rawFrame(ethFrame(0x8100, []byte{0, 100}), true, "an 802.1Q tag cut after 2 of its 4 bytes")
	tags := []byte{}
	for i := 0; i < 5; i++ {
		tags = append(tags, 0, byte(100+i), 0x81, 0x00)
	}
	tags[len(tags)-2], tags[len(tags)-1] = 0x08, 0x00
	h.rawFrame(ethFrame(0x8100, cat(tags, syn)), false, "5 stacked 802.1Q tags, then an IPv4 SYN (more tags than networks use: may be given up on)")
	h.rawFrame(ethFrame(0x88cc, fill(42, 40)), false, "an LLDP frame: not IP")
	h.rawFrame(ethFrame(46, cat([]byte{0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0x00}, fill(43, 38))), false,
		"an 802.3 frame (length 46) with LLC/SNAP: not Ethernet II")
	h.tcp(nsIP+":1863", want{}).tinyMSNP()
	return h
}

// ---------------------------------------------------------------- fragments.pcap

func frag4(src, dst netip.Addr, proto layers.IPProtocol, id uint16, off int, more bool, data []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: clientTTL, Id: id, Protocol: proto, SrcIP: net.IP(src.AsSlice()),
		DstIP: net.IP(dst.AsSlice()), FragOffset: uint16(off / 8)}
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	return serialize(ip, gopacket.Payload(data))
}

func frag6(src, dst netip.Addr, next layers.IPProtocol, id uint32, off int, more bool, data []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: clientTTL, NextHeader: layers.IPProtocolIPv6Fragment,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	fr := &layers.IPv6Fragment{NextHeader: next, FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: id}
	return serialize(ip, fr, gopacket.Payload(data))
}

func hostileFragments() *hostile {
	h := newHostile()
	cli := netip.AddrPortFrom(client4, 49570)
	probe := pad(echoProbe(cli, 0x5eed0050), 3000)
	l4 := h.dg(cli, netip.AddrPortFrom(echoAdr, 7001), probe)[20:] // 3008 bytes of UDP
	f := func(id uint16, off int, more bool, data []byte, what string) {
		h.raw(frag4(client4, echoAdr, layers.IPProtocolUDP, id, off, more, data), true, false, what)
	}
	f(0x7a01, 0, true, l4[:1480], "IPv4 fragment 1 of 3 (0-1479)")
	f(0x7a01, 1472, true, cat(fill(50, 8), l4[1480:2952]), "IPv4 fragment 2 starting at 1472: overlaps fragment 1 by 8 bytes, with other bytes")
	f(0x7a01, 2952, false, l4[2952:], "IPv4 fragment 3 (2952-3007)")
	for i := 0; i < 3; i++ {
		f(0x7a02, 0, true, l4[:1480], fmt.Sprintf("IPv4 first fragment, copy %d of 3 (duplicates)", i+1))
	}
	f(0x7a02, 1480, false, l4[1480:], "IPv4 last fragment of the duplicated datagram")
	f(0x7a03, 8, true, fill(51, 16), "IPv4 fragment at 8-23, inside the first fragment that follows (teardrop)")
	f(0x7a03, 0, true, l4[:1480], "IPv4 first fragment, after a later one")
	f(0x7a04, 65528, false, fill(52, 100), "IPv4 fragment at offset 65528 carrying 100 bytes: the datagram would end past 65535")
	f(0x7a05, 0, true, nil, "IPv4 first fragment (MF) with no payload at all")
	f(0x7a06, 0, true, l4[:8], "IPv4 first fragment of 8 bytes: only the UDP header")
	f(0x7a06, 0, true, set16(append([]byte(nil), l4[:1480]...), 2, 9), "IPv4 first fragment again, same ID, another destination port (overlap rewriting the header)")
	f(0x7a06, 1480, false, l4[1480:], "IPv4 last fragment of that datagram")

	// A tiny first fragment: 8 bytes of TCP header, the flags in the next fragment (RFC 1858).
	syn := h.seg(netip.AddrPortFrom(client4, 49571), netip.AddrPortFrom(nsAddr, 1863), fSYN, 0x6000, 0, nil)[20:]
	h.raw(frag4(client4, nsAddr, layers.IPProtocolTCP, 0x7a07, 0, true, syn[:8]), true, false,
		"IPv4 first fragment of a TCP SYN carrying 8 bytes of its header (RFC 1858 tiny fragment)")
	h.raw(frag4(client4, nsAddr, layers.IPProtocolTCP, 0x7a07, 8, false, syn[8:]), true, false,
		"IPv4 second fragment with the rest of the TCP header")

	// IPv6.
	cli6 := netip.AddrPortFrom(client6, 49572)
	l6 := h.dg(cli6, netip.AddrPortFrom(echo6, 7001), pad(echoProbe(cli6, 0x5eed0051), 2000))[40:]
	g := func(id uint32, off int, more bool, data []byte, what string) {
		h.raw(frag6(client6, echo6, layers.IPProtocolUDP, id, off, more, data), true, false, what)
	}
	g(0xf00d7a01, 0, true, l6[:1232], "IPv6 fragment 1 of 2 (0-1231)")
	g(0xf00d7a01, 1224, false, cat(fill(53, 8), l6[1232:]), "IPv6 fragment 2 starting at 1224: overlaps fragment 1 (RFC 5722 forbids)")
	g(0xf00d7a02, 0, true, l6[:1232], "IPv6 first fragment")
	g(0xf00d7a02, 0, true, l6[:1232], "the same IPv6 first fragment again (duplicate)")
	g(0xf00d7a02, 1232, false, l6[1232:], "IPv6 last fragment")
	g(0xf00d7a03, 0, false, h.dg(cli6, netip.AddrPortFrom(echo6, 7001), echoProbe(cli6, 0x5eed0052))[40:],
		"IPv6 atomic fragment (offset 0, M=0) carrying a whole echo probe")
	two := cat([]byte{17, 0, 0, 0, 0, 0, 0, 9}, l6[:64])
	h.raw(frag6(client6, echo6, layers.IPProtocolIPv6Fragment, 0xf00d7a04, 0, true, two), true, false,
		"IPv6 first fragment whose Fragment header is followed by another Fragment header")
	dest := cat([]byte{17, 200}, make([]byte, 62)) // a Destination Options header claiming 1608 bytes, cut by the fragment
	h.raw(frag6(client6, echo6, layers.IPProtocolIPv6Destination, 0xf00d7a05, 0, true, dest), true, false,
		"IPv6 first fragment ending inside a Destination Options header: no transport header in it")
	return h
}

// ---------------------------------------------------------------- jumbo.pcapng

func hostileJumbo() *hostile {
	h := newHostile()
	c := h.capture
	msg := msnpPayload("MSG 5 N", []byte("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"+
		strings.Repeat("jumbo frames carry 8960 bytes of TCP payload. ", 600)))
	t := c.tcp(nsIP+":1863", want{})
	t.mss = 8960
	t.handshake().msnpLogin().recv(cat(gcfPolicy, msnpSSOnonc)).send(msnpUSRS).recv(msnpUSROK).send(msg).recv(msg).close()

	u := c.udp(echoIP+":7001", want{})
	u.send(pad(echoProbe(u.cli, 0x5eed0060), 8972)).recv(echoReply(u.cli, netip.MustParseAddr(echoTestIP), 0x5eed0060))

	t6 := c.tcp("[2001:db8:1::20]:1863", want{})
	t6.mss = 8940
	t6.handshake().msnpLogin().send(msg).recv(msnpVERok).close()
	u6 := c.udp("[2001:db8:1::50]:7001", want{})
	u6.send(pad(echoProbe(u6.cli, 0x5eed0061), 8952))
	return h
}
