package main

// Hostile payloads: HTTP heads with 100 KB lines, ClientHellos whose lengths
// lie, names built to attack a terminal or a spreadsheet, DNS messages that
// loop, MSNP lines of 1 MB, MSNSLP invitations announcing 1000 endpoints.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// ---------------------------------------------------------------- http-long-header.pcap

func hostileHTTP() *hostile {
	h := newHostile()
	c := h.capture
	const k100 = 100 << 10
	req := httpMsg("POST /gateway/gateway.dll?Action=open&Server=NS&IP=messenger.hotmail.com HTTP/1.1",
		[]string{"Accept: */*", "X-Filler: " + strings.Repeat("a", k100), "Host: gateway.messenger.hotmail.com",
			"Content-Type: application/x-msn-messenger"}, string(msnpVER))
	resp := httpMsg("HTTP/1.1 200 OK", []string{"X-Filler: " + strings.Repeat("b", k100),
		"X-MSN-Messenger: SessionID=1055374441.28543; GW-IP=" + gwIP, "Content-Type: application/x-msn-messenger"}, string(msnpVERok))
	c.tcp(gwIP+":80", want{}).handshake().send(req).recv(resp).ack().close()
	h.note(false, "the last packet of a gateway exchange whose request and response each carry a 100 KB header line")

	c.tcp("198.51.100.23:80", want{}).handshake().
		send([]byte("GET /" + strings.Repeat("t", k100) + " HTTP/1.1\r\nHost: x.gateway.edge.messenger.live.com\r\n\r\n")).rst()
	h.note(false, "the RST of a request whose target is 100 KB long")

	c.tcp("198.51.100.24:80", want{}).handshake().
		send([]byte("GET /gateway/gateway.dll HTTP/1.1\r\nHost: " + strings.Repeat("h", k100) + ".messenger.live.com\r\n\r\n")).
		recv(httpMsg("HTTP/1.1 403 Forbidden", []string{"Connection: close"}, "")).serverClose()
	h.note(false, "the last packet of a request whose Host value is 100 KB long, answered 403")

	c.tcp("198.51.100.25:80", want{}).handshake().
		send([]byte("GET / HTTP/1.1\r\nX-Endless: " + strings.Repeat("e", k100))).close()
	h.note(false, "the last packet of a request whose 100 KB header line never ends")
	return h
}

// ---------------------------------------------------------------- tls-lying-lengths.pcap

// helloPre is a ClientHello body up to (not including) the extensions length.
func helloPre(seed byte) []byte {
	suites := []int{0x002f, 0x0035, 0x0005, 0x000a, 0xc013, 0xc014, 0xc009, 0xc00a}
	var cs []byte
	for _, s := range suites {
		cs = append(cs, u16(s)...)
	}
	return cat(u16(0x0301), fill(seed, 32), []byte{0}, vec16(cs), []byte{1, 0})
}

// sniExt is a server_name extension with the given lengths (-1: the true one).
func sniExt(extLen, listLen, nameLen int, name string) []byte {
	entry := cat([]byte{0}, u16(or(nameLen, len(name))), []byte(name))
	list := cat(u16(or(listLen, len(entry))), entry)
	return cat(u16(0), u16(or(extLen, len(list))), list)
}

func or(v, def int) int {
	if v < 0 {
		return def
	}
	return v
}

var otherExts = cat(ext(0x000a, vec16(u16(0x0017), u16(0x0018))), ext(0x000b, []byte{1, 0}), ext(0xff01, []byte{0}))

// hsHello is a ClientHello handshake message: pre, the extensions length (-1: true), the extensions.
func hsHello(pre []byte, extsLen int, exts []byte) []byte {
	body := cat(pre, u16(or(extsLen, len(exts))), exts)
	return cat([]byte{1}, u24(len(body)), body)
}

func hostileTLS() *hostile {
	h := newHostile()
	c := h.capture
	c.resolve("local-bay.contacts.msn.com", contactsIP)
	const name = "local-bay.contacts.msn.com"
	pre := helloPre(30)
	good := cat(sniExt(-1, -1, -1, name), otherExts)
	send := func(b []byte, what string) {
		c.tcp(contactsIP+":443", want{}).handshake().send(b).rst()
		h.note(false, "the RST after "+what)
	}
	send(tlsRecords(hsHello(pre, 0xffff, good)), "a ClientHello whose extensions length is 65535")
	send(tlsRecords(hsHello(pre, len(good)+100, good)), "a ClientHello whose extensions length runs 100 bytes past the record")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(0x4000, -1, -1, name), otherExts))), "a server_name extension claiming 16384 bytes")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(-1, len(name)+53, -1, name), otherExts))), "a server_name list length 50 bytes too long")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(-1, 0, -1, name), otherExts))), "a server_name list length of 0 before a name")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(-1, -1, len(name)+40, name), otherExts))), "a host_name length 40 bytes too long")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(-1, -1, 0xffff, name), otherExts))), "a host_name length of 65535")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(-1, -1, -1, ""), otherExts))), "an empty host_name")
	hs := hsHello(pre, -1, good)
	send(tlsRecords(cat([]byte{1, 0xff, 0xff, 0xff}, hs[4:])), "a ClientHello whose handshake length is 16777215")
	send(cat([]byte{22, 3, 1, 0xff, 0xff}, hs), "a TLS record of length 65535 (more than 2^14+2048)")
	send(cat([]byte{22, 3, 1, 0, 0}, tlsRecords(hs)), "a TLS record of length 0, then the ClientHello")
	ones := make([]int, len(hs)-1)
	for i := range ones {
		ones[i] = 1
	}
	send(tlsRecords(hs, ones...), fmt.Sprintf("a ClientHello in %d one-byte TLS records", len(hs)))
	long := strings.Repeat("s", 283) + ".contacts.msn.com"
	lhs := hsHello(pre, -1, cat(sniExt(-1, -1, -1, long), otherExts))
	send(tlsRecords(lhs, len(pre)+4+2+9+100), "a 300-byte host_name split across two TLS records (longer than the copy buffer)")
	lie := append([]byte(nil), hs...)
	lie[4+2+32] = 255 // session_id length
	send(tlsRecords(lie), "a ClientHello whose session_id length is 255")
	lie = append([]byte(nil), hs...)
	lie[4+2+32+1], lie[4+2+32+2] = 0xff, 0xfe // cipher_suites length
	send(tlsRecords(lie), "a ClientHello whose cipher_suites length is 65534")
	typ1 := cat([]byte{1}, u16(len(name)), []byte(name))
	multi := cat(typ1, []byte{0}, u16(len(name)), []byte(name))
	send(tlsRecords(hsHello(pre, -1, cat(u16(0), u16(2+len(multi)), u16(len(multi)), multi, otherExts))),
		"a server_name list whose first entry has name type 1")
	send(tlsRecords(hsHello(pre, -1, cat(sniExt(-1, -1, -1, "evil.example"), sniExt(-1, -1, -1, name), otherExts))),
		"a ClientHello with two server_name extensions")
	send(tlsRecords(cat([]byte{2}, hs[1:])), "a ServerHello-typed handshake from the client")

	// TCP-level: more segments than the reassembly keeps, an overlap that
	// rewrites the name, sequence numbers wrapping past 2^32.
	hello := tlsRecords(hs)
	sizes := make([]int, len(hello)/16)
	order := make([]int, len(sizes)+1)
	for i := range sizes {
		sizes[i], order[i] = 16, i
	}
	order[len(sizes)] = len(sizes)
	c.tcp(contactsIP+":443", want{}).handshake().sendSegments(hello, sizes, order).rst()
	h.note(false, fmt.Sprintf("the RST after a ClientHello in %d TCP segments of 16 bytes", len(order)))
	evil := tlsRecords(hsHello(pre, -1, cat(sniExt(-1, -1, -1, "local-bay.contacts.msn.evil"), otherExts)))
	t := c.tcp(contactsIP+":443", want{}).handshake()
	t.emit(true, fPSH|fACK, t.cseq+100, t.sseq, hello[100:])
	t.emit(true, fPSH|fACK, t.cseq, t.sseq, evil[:120])
	t.emit(true, fPSH|fACK, t.cseq, t.sseq, hello[:100])
	t.cseq += uint32(len(hello))
	t.rst()
	h.note(false, "the RST after a ClientHello whose first segment comes after the second, overlapping it, "+
		"and again with the bytes of another name")
	t = c.tcp(contactsIP+":443", want{})
	t.ciss, t.cseq = 0xffffff80, 0xffffff80
	t.handshake().sendSegments(hello, []int{100}, []int{0, 1}).rst()
	h.note(false, "the RST after a ClientHello whose sequence numbers wrap past 2^32 between its two segments")

	send([]byte{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x35,
		0x00, 0x00, 0x05, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x80, 0x07, 0x00, 0xc0, 0x03, 0x00, 0x80, 0x21, 0x5f,
		0x66, 0x1b, 0x3a, 0x94, 0x70, 0x12, 0x6b, 0x2c, 0x34, 0x81, 0x27, 0xfc, 0x01, 0x18}, "an SSLv2-compatible ClientHello")
	return h
}

// ---------------------------------------------------------------- hostile-names.pcap

// hostileSNIs are server names that attack whoever reads the report.
var hostileSNIs = []string{
	"\x1b]0;pwned\x07.contacts.msn.com",                                    // OSC: set the terminal title
	"\x1b[2J\x1b[H\x1b[31mred.contacts.msn.com",                            // clear the screen, home, red
	"\x1bP+q544e\x1b\\dcs.contacts.msn.com",                                // DCS request
	"nul\x00soh\x01bs\x08del\x7f.contacts.msn.com",                         // C0 controls
	"crlf\r\nX-Injected: 1.contacts.msn.com",                               // line injection
	"tab\tvt\x0bff\x0c.contacts.msn.com",                                   // whitespace controls
	"bidi\u202egpj.exe\u202c.contacts.msn.com",                             // right-to-left override
	"iso\u2066\u2067\u2068\u2069lrm\u200erlm\u200f.contacts.msn.com",       // isolates and marks
	"c1\u009b2J\u0085nel\u009d0;x\u009c.contacts.msn.com",                  // C1 CSI, NEL, OSC, ST as UTF-8
	"raw8bit\x9b2J\x85\x9d.contacts.msn.com",                               // the same as raw bytes (invalid UTF-8)
	"inv\xff\xfe\xc0\xaf\xed\xa0\x80\xf8\x88\x80\x80\x80.contacts.msn.com", // invalid UTF-8: bytes, overlong, surrogate, 5-byte
	"cut\xe2\x80.contacts.msn.com",                                         // a truncated UTF-8 sequence
	"=cmd|' /C calc'!A0.contacts.msn.com",                                  // spreadsheet formula
	"md|pipe*star_`tick`<b>[x](y)\\.contacts.msn.com",                      // markdown syntax
	strings.Repeat("ü", 100) + ".contacts.msn.com",                         // 200 bytes of 2-byte UTF-8, no spaces
	strings.Repeat("漢", 70) + ".contacts.msn.com",                          // 210 bytes of double-width UTF-8
	"z" + strings.Repeat("\u0301", 60) + ".contacts.msn.com",               // combining marks
	longName(1000, "contacts.msn.com"),                                     // 1000 bytes
}

// longName is a name of n bytes made of 63-byte labels, ending in suffix.
func longName(n int, suffix string) string {
	var b strings.Builder
	for i := 0; b.Len()+len(suffix) < n; i++ {
		l := min(63, n-len(suffix)-b.Len()-1)
		if l <= 0 {
			break
		}
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), l) + ".")
	}
	return b.String() + suffix
}

func hostileNames() *hostile {
	h := newHostile()
	c := h.capture
	for i, sni := range hostileSNIs {
		c.tcp(fmt.Sprintf("198.51.100.%d:443", 130+i), want{}).handshake().send(tlsHello(sni, byte(40+i))).rst()
		h.note(false, fmt.Sprintf("the RST after a ClientHello with SNI %q (%d bytes)", sni, len(sni)))
	}

	hosts := []string{
		"\x1b]0;pwned\x07.gateway.edge.messenger.live.com",
		"\x1b[2J.messenger.live.com",
		"\xc2\x9b2J\xe2\x80\xaeevil.messenger.live.com",
		"\xff\xfe\x9b.messenger.live.com",
		"=HYPERLINK(\"http://x\").messenger.live.com",
		longName(4000, "messenger.live.com"),
	}
	for i, host := range hosts {
		c.tcp(fmt.Sprintf("198.51.100.%d:80", 160+i), want{}).handshake().
			send(httpMsg("GET /gateway/gateway.dll?Action=poll HTTP/1.1", []string{"Host: " + host, "User-Agent: MSMSGS"}, "")).
			recv(httpMsg("HTTP/1.1 403 Forbidden", []string{"Connection: close", "Content-Type: text/html"}, "blocked\n")).
			serverClose()
		h.note(false, fmt.Sprintf("the last packet of a request with Host %q (%d bytes), answered 403", host, len(host)))
	}

	targets := []string{
		"\xc2\x9b2J\xe2\x80\xaeevil.messenger.hotmail.com:1863",
		"\xff\xfe.messenger.hotmail.com:1863",
		longName(5000, "messenger.hotmail.com") + ":1863",
	}
	for _, tg := range targets {
		c.tcp(proxy, want{}).handshake().send(httpMsg("CONNECT "+tg+" HTTP/1.1", []string{"User-Agent: MSMSGS",
			"Proxy-Connection: Keep-Alive"}, "")).
			recv(httpMsg("HTTP/1.1 407 Proxy Authentication Required", []string{"Proxy-Authenticate: NTLM",
				"Connection: close"}, "")).serverClose()
		h.note(false, fmt.Sprintf("the last packet of a CONNECT to %q (%d bytes), answered 407", tg, len(tg)))
	}

	names := []string{
		"\x1b]0;pwned\x07.messenger.live.com",
		"\x1b[2J\x1b[H.contacts.msn.com",
		"bidi\u202egnp.messenger.msn.com",
		"\xff\xfe\xc0\xaf.messenger.msn.com",
		"tab\there\rcr.storage.msn.com",
		"c1\u009b2J.spaces.live.com",
	}
	for _, n := range names {
		c.dnsFail(n, layers.DNSResponseCodeNXDomain)
		h.note(false, fmt.Sprintf("NXDOMAIN for %q", n))
	}
	c.resolve("\x1b]0;pwned\x07.messenger.msn.com", "0.0.0.0")
	h.note(false, "a sinkhole answer (0.0.0.0) for a name with an OSC escape")
	return h
}

// ---------------------------------------------------------------- dns.pcap

// wname is a name in DNS wire format.
func wname(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(append(b, byte(len(l))), l...)
	}
	return append(b, 0)
}

func ptr(off int) []byte { return u16(0xc000 | off) }

func u32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// dnsHead is a response header (QR, RD, RA) with the given counts.
func dnsHead(id uint16, rcode int, qd, an int) []byte {
	return cat(u16(int(id)), u16(0x8180|rcode), u16(qd), u16(an), u16(0), u16(0))
}

// rrA is an A record.
func rrA(owner []byte, ip [4]byte) []byte {
	return cat(owner, u16(1), u16(1), u32b(300), u16(4), ip[:])
}

var echoWire = wname("echo", "edge", "messenger", "live", "com")

func hostileDNS() *hostile {
	h := newHostile()
	c := h.capture
	id := uint16(0x7d00)
	qA := cat(u16(1), u16(1))
	ip := [4]byte{198, 51, 100, 50}
	exchange := func(query, resp []byte, what string) {
		u := c.udpNoFlow(netip.AddrPortFrom(resolver, 53), c.nextPort())
		if query != nil {
			u.send(query)
		}
		u.recv(resp)
		h.note(false, what)
		id++
	}
	query := func() []byte { return cat(u16(int(id)), u16(0x0100), u16(1), u16(0), u16(0), u16(0), echoWire, qA) }

	exchange(query(), cat(dnsHead(id, 0, 1, 0), ptr(12), qA), "a question name that is a compression pointer to itself")
	exchange(query(), cat(dnsHead(id, 0, 1, 0), ptr(14), ptr(12), qA), "two compression pointers pointing at each other")
	q := cat(echoWire, qA)
	at := 12 + len(q)
	exchange(query(), cat(dnsHead(id, 0, 1, 1), q, rrA(ptr(at), ip)), "an answer owner name that is a pointer to itself")
	exchange(query(), cat(dnsHead(id, 0, 1, 0), ptr(18), qA, echoWire), "a forward compression pointer")
	exchange(query(), cat(dnsHead(id, 0, 1, 0), []byte{0x40}, bytes.Repeat([]byte{'x'}, 64), []byte{0}, qA), "a label of length 64 (label type 01)")
	exchange(query(), cat(dnsHead(id, 0, 1, 0), []byte{0x80, 'x', 0}, qA), "a label of type 10 (reserved)")
	l63 := strings.Repeat("a", 63)
	long := wname(l63, l63, l63, l63, "messenger", "live", "com")
	exchange(nil, cat(dnsHead(id, 0, 1, 1), long, qA, rrA(ptr(12), ip)),
		fmt.Sprintf("a question name of %d bytes in wire format (four 63-byte labels)", len(long)))
	// A name made longer than 255 bytes by a pointer to another long name.
	first := wname(l63, l63, l63, "messenger", "live", "com")
	second := cat([]byte{63}, []byte(l63), []byte{63}, []byte(l63), ptr(12))
	exchange(nil, cat(dnsHead(id, 0, 1, 1), first, qA, second, u16(1), u16(1), u32b(300), u16(4), ip[:]),
		fmt.Sprintf("an answer owner name of %d bytes in wire format: two 63-byte labels, then a pointer to a %d-byte name",
			len(second)-2+len(first), len(first)))
	// 100 pointers, each to the previous one: a chain longer than any limit.
	msgStart := cat(dnsHead(id, 0, 1, 2), q)
	chainAt := len(msgStart) + 2 + 10 // after the first answer's owner (a pointer) and its fixed fields
	var chain []byte
	for i := 0; i < 100; i++ {
		prev := 12
		if i > 0 {
			prev = chainAt + 2*(i-1)
		}
		chain = append(chain, ptr(prev)...)
	}
	exchange(query(), cat(msgStart, ptr(12), u16(16), u16(1), u32b(300), u16(len(chain)), chain,
		ptr(chainAt+2*99), u16(1), u16(1), u32b(300), u16(4), ip[:]), "an answer owner reached through 100 compression pointers")
	exchange(query(), cat(dnsHead(id, 0, 1, 65535), q, rrA(ptr(12), ip)), "ANCOUNT 65535 with one answer record")
	exchange(query(), cat(dnsHead(id, 0, 65535, 0), q), "QDCOUNT 65535 with one question")
	// A CNAME loop: a -> b -> a, and a 20-deep CNAME chain.
	aName := wname("a", "messenger", "live", "com")
	loop := cat(dnsHead(id, 0, 1, 3), aName, qA)
	bAt := len(loop) + 2 + 10
	loop = cat(loop, ptr(12), u16(5), u16(1), u32b(300), u16(4), []byte{1, 'b'}, ptr(14),
		ptr(bAt), u16(5), u16(1), u32b(300), u16(2), ptr(12), rrA(ptr(12), ip))
	exchange(nil, loop, "a CNAME loop: a.messenger.live.com -> b.messenger.live.com -> a.messenger.live.com, and an A record")
	var deep []byte
	for i := 0; i < 20; i++ {
		deep = append(deep, cat(wname(fmt.Sprintf("c%d", i), "messenger", "live", "com"), u16(5), u16(1), u32b(300),
			u16(len(wname(fmt.Sprintf("c%d", i+1), "messenger", "live", "com"))), wname(fmt.Sprintf("c%d", i+1), "messenger", "live", "com"))...)
	}
	deep = append(deep, rrA(wname("c20", "messenger", "live", "com"), ip)...)
	exchange(nil, cat(dnsHead(id, 0, 1, 21), wname("c0", "messenger", "live", "com"), qA, deep),
		"a CNAME chain 20 deep before the address")
	exchange(query(), cat(dnsHead(id, 0, 1, 1), q, ptr(12), u16(1), u16(1), u32b(300), u16(4), ip[:2]),
		"an A record whose RDLENGTH 4 runs past the message")
	exchange(query(), cat(dnsHead(id, 0, 1, 2), q, ptr(12), u16(28), u16(1), u32b(300), u16(4), ip[:],
		ptr(12), u16(1), u16(1), u32b(300), u16(16), make([]byte, 16)), "an AAAA record of 4 bytes and an A record of 16")
	var many []byte
	for i := 0; i < 100; i++ {
		many = append(many, rrA(ptr(12), [4]byte{198, 51, 100, byte(i)})...)
	}
	exchange(query(), cat(dnsHead(id, 0, 1, 100), q, many), "100 A records for one name")
	exchange(query(), cat(dnsHead(id, 15, 1, 0), q), "RCODE 15")
	exchange(nil, nil, "an empty UDP datagram from port 53")
	exchange(nil, make([]byte, 11), "an 11-byte DNS message")

	// DNS over TCP: lying length prefixes.
	t := c.tcp(netip.AddrPortFrom(resolver, 53).String(), want{})
	tq := query()
	t.handshake().send(cat(u16(len(tq)), tq)).
		recv(cat(u16(0xffff), dnsHead(id, 0, 1, 0), q)).
		recv(cat(u16(0), u16(2), []byte{0, 0})).
		recv(cat(u16(12+len(q)), dnsHead(id, 0, 1, 0), q, u16(12+len(q)), dnsHead(id, 3, 1, 0), q)).close()
	h.note(false, "the end of a DNS-over-TCP exchange: length prefixes of 65535 and 0, two messages in one segment")
	return h
}

// ---------------------------------------------------------------- msnp-long-line.pcap.gz

func hostileMSNP() *hostile {
	h := newHostile()
	c := h.capture
	const mb = 1 << 20
	c.tcp(nsIP+":1863", want{}).handshake().send([]byte("VER 1 MSNP18 " + strings.Repeat("A", mb))).rst()
	h.note(false, "the RST after a client whose first bytes are a 1 MB MSNP line without CRLF")

	line := "XFR 3 SB 203.0.113.98:1863 CKI " + strings.Repeat("203.0.113.97:1863 ", mb/18)
	c.tcp(ns2IP+":1863", want{}).handshake().msnpLogin().recv([]byte(line)).
		recv(lines("", "XFR 4 NS 203.0.113.99:1863 U D")).close()
	h.note(false, "the end of a logged-in session whose server sent a 1 MB line without CRLF, then an XFR")

	c.tcp("198.51.100.26:1863", want{}).handshake().send(msnpVER).recv(msnpVERok).send(msnpCVR).
		recv([]byte("GCF 0 4294967295\r\n<Policies>")).recv([]byte("MSG Hotmail Hotmail 99999999999999999999\r\nMIME-Version: 1.0\r\n")).
		recv([]byte("UBX 1:bob@example.com -1\r\n")).close()
	h.note(false, "the end of a session with payload commands claiming 4 GB, 10^20 and -1 bytes")
	return h
}

// ---------------------------------------------------------------- slp-endpoints.pcap

func hostileSLP() *hostile {
	h := newHostile()
	c := h.capture
	ns := c.tcp(nsIP+":1863", want{})
	ns.handshake().msnpLogin().recv(cat(gcfPolicy, msnpSSOnonc)).send(msnpUSRS).recv(msnpUSROK).
		send(lines("XFR 10 SB")).recv(lines("XFR 10 SB 198.51.100.40:1863 CKI 17262740.1050826919.32308"))
	sb := c.tcp(sbIP+":1863", want{})
	sb.handshake().send(lines("USR 1 " + email + " 17262740.1050826919.32308")).recv(lines("USR 1 OK " + email + " Alice"))

	const call, session = "{9D79AE57-1BD5-444B-B14E-3FC9BB2B5D58}", 1980589
	var b strings.Builder
	fmt.Fprintf(&b, "Bridge: TCPv1\r\nListening: true\r\nConn-Type: Direct-Connect\r\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "IPv4InternalAddrsAndPorts: 10.%d.%d.%d:%d\r\n", i/250, i%250, 1+i%7, 5000+i)
	}
	fmt.Fprintf(&b, "SessionID: %d\r\n", session)
	sb.send(sbFromClient(3, "D", slpInvite(call, "application/x-msnmsgr-transreqbody", transReq(session)))).
		recv(sbFromPeer(slpOK(call, "application/x-msnmsgr-transrespbody", b.String())))
	h.note(false, "the last segment of a transport response with 1000 IPv4InternalAddrsAndPorts headers")

	var addrs, rev []string
	for i := 0; i < 1000; i++ {
		a := fmt.Sprintf("172.16.%d.%d", i/250, 1+i%250)
		addrs = append(addrs, a)
		rev = append(rev, reverse(fmt.Sprintf("%s:%d", a, 6000+i)))
	}
	body := "Bridge: TCPv1\r\nListening: true\r\nIPv4External-Addrs: " + strings.Join(addrs, " ") +
		"\r\nIPv4External-Port: 5050\r\nstroPdnAsrddAlanretxE4vPI: " + strings.Join(rev, " ") + "\r\n"
	sb.recv(sbFromPeer(slpOK(call, "application/x-msnmsgr-transrespbody", body)))
	h.note(false, "the last segment of a transport response announcing 1000 addresses in one header, and 1000 reversed address:port pairs in another")

	fields := []string{"Application-Name: NetMeeting", "Application-GUID: " + guidNetMeeting, "Invitation-Command: ACCEPT",
		"Invitation-Cookie: 40317", "Launch-Application: TRUE"}
	for i := 0; i < 1000; i++ {
		fields = append(fields, fmt.Sprintf("IP-Address: 203.0.%d.%d", 113+i/250, 1+i%250), fmt.Sprintf("Port: %d", 1503+i))
	}
	sb.recv(sbFromPeer(legacyInvite(fields...)))
	h.note(false, "the last segment of a legacy invitation with 1000 IP-Address and 1000 Port headers")

	c.tcp("10.0.3.4:5003", want{}).syn().refuse()
	c.tcp("172.16.0.5:5050", want{}).syn().refuse()
	sb.send(lines("OUT")).serverClose()
	ns.send(lines("OUT")).serverClose()
	return h
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
