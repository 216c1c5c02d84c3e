package main

// Big mode: the servers and the session scripts (what traffic, how much, how often it fails).

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"
)

// Messenger servers of the big capture (198.51.100.0/24 below .100, as in the small captures).
var bigMsgrNames = []struct {
	name string
	last byte
}{
	{"messenger.hotmail.com", 20}, {"gateway.messenger.hotmail.com", 22}, {"login.live.com", 25},
	{"local-bay.contacts.msn.com", 30}, {"omega.contacts.msn.com", 31}, {"echo.edge.messenger.live.com", 50},
}

var (
	bigBgHosts   = []string{"www", "cdn", "api", "static", "img", "mail", "news", "video", "shop", "docs", "auth", "assets", "media", "search", "maps", "update", "telemetry", "ads", "fonts", "m"}
	bigBgDomains = []string{"example.com", "example.net", "example.org", "shop.example", "news.example", "video.example", "cloud.example", "mail.example"}
	bigHighPorts = []uint16{8080, 8443, 8000, 8888, 5222, 5228, 6881, 9000, 9090, 9443, 27017, 32400, 3000, 5000, 10000, 50051}
)

func (g *bigGen) initServers() {
	ttls := []uint8{52, 54, 57, 113, 116, 117, 238, 243}
	mk := func(name string, a4 [4]byte, a6 string, rttLo, rttHi int) *bigServer {
		return &bigServer{name: name, a4: a4, a6: netip.MustParseAddr(a6).As16(),
			rtt: int64(rttLo+g.rng.IntN(rttHi-rttLo)) * 1000, ttl: ttls[g.rng.IntN(len(ttls))]}
	}
	for _, m := range bigMsgrNames {
		g.srvNames[m.name] = mk(m.name, [4]byte{198, 51, 100, m.last}, fmt.Sprintf("2001:db8:1::%x", m.last), 20, 90)
	}
	for i := 0; i < 10; i++ { // notification servers named by XFR
		g.ns = append(g.ns, mk("", [4]byte{198, 51, 100, byte(70 + i)}, fmt.Sprintf("2001:db8:1::%x", 70+i), 20, 90))
	}
	i := 1
	for _, d := range bigBgDomains {
		for _, h := range bigBgHosts {
			name := h + "." + d
			g.srvNames[name] = mk(name, [4]byte{203, 0, 113, byte(i)}, fmt.Sprintf("2001:db8:2::%x", i), 4, 160)
			i++
		}
	}
	for i := 100; i < 250; i++ { // unnamed servers: SSH, NTP, high ports
		g.unnamedS = append(g.unnamedS, mk("", [4]byte{198, 51, 100, byte(i)}, fmt.Sprintf("2001:db8:3::%x", i), 3, 200))
	}
}

func (g *bigGen) srv(name string) *bigServer { return g.srvNames[name] }

// ---------------------------------------------------------------- script builder

type bigB struct {
	g *bigGen
	s *bigSession
}

func (b *bigB) add(st bigStep) { b.s.steps = append(b.s.steps, st) }

// us is a uniform duration in [lo, hi) µs.
func (g *bigGen) us(lo, hi int64) int64 { return lo + g.rng.Int64N(hi-lo) }

// think is an exponential pause of the given mean, capped, in µs.
func (g *bigGen) think(meanS, capS float64) int64 {
	return int64(min(g.rng.ExpFloat64()*meanS, capS)*1e6) + 1000
}

func (g *bigGen) chance(percent int) bool { return g.rng.IntN(100) < percent }

// note counts an intended Messenger outcome (sessions started in the capture only).
func (b *bigB) note(what string) {
	if b.s.at >= 0 {
		b.g.st.outcomes[what]++
	}
}

// lookup may look name up first (p percent of the time; otherwise it is cached).
// It reports false when the lookup fails (percent fail of Messenger lookups).
func (b *bigB) lookup(name string, p, fail int) bool {
	if !b.g.chance(p) {
		return true
	}
	qt := uint16(1)
	if b.s.v6 {
		qt = 28
	}
	st := bigStep{kind: kDNS, name: name, qtype: qt, srv: b.g.srv(name), pre: b.g.us(200, 3000)}
	if fail > 0 && b.g.chance(fail) {
		st.rcode, st.srv = 2, nil // SERVFAIL
		b.add(st)
		return false
	}
	b.add(st)
	return true
}

func (b *bigB) connect(srv *bigServer, port uint16, mode uint8, pre int64) {
	st := bigStep{kind: kConnect, srv: srv, port: port, mode: mode, pre: pre}
	if mode == cDrop {
		st.tries = uint8(3 + b.g.rng.IntN(2))
	}
	b.add(st)
}

// send and recv add a message: head, then bulk bytes from the ring (TLS records if tls).
func (b *bigB) send(head []byte, bulk int, tls bool, pre int64) { b.msg(kSend, head, bulk, tls, pre) }
func (b *bigB) recv(head []byte, bulk int, tls bool, pre int64) { b.msg(kRecv, head, bulk, tls, pre) }

func (b *bigB) msg(k bigKind, head []byte, bulk int, tls bool, pre int64) {
	if tls && bulk%tlsRecTot != 0 && bulk%tlsRecTot < 6 {
		bulk += 6 // no empty last record
	}
	b.add(bigStep{kind: k, head: head, bulk: bulk, tls: tls, pre: pre, roff: b.g.rng.IntN(bigRingLen)})
}

// push is a message nobody answers at once: the receiver ACKs it on its own.
func (b *bigB) push(k bigKind, head []byte, bulk int, tls bool, pre int64) {
	b.msg(k, head, bulk, tls, pre)
	b.s.steps[len(b.s.steps)-1].ack = true
}

// rtt is the round trip to the server of the last connect step, plus server time.
func (b *bigB) rtt(srv *bigServer) int64 { return srv.rtt + b.g.us(200, 3000) }

// xchg is a client request and the server's answer.
func (b *bigB) xchg(srv *bigServer, req, resp []byte, respBulk int, tls bool, pre int64) {
	b.send(req, 0, false, pre)
	b.recv(resp, respBulk, tls, b.rtt(srv))
}

func (b *bigB) close(side uint8, pre int64) { b.add(bigStep{kind: kClose, mode: side, pre: pre}) }
func (b *bigB) rst(side uint8, pre int64)   { b.add(bigStep{kind: kRST, mode: side, pre: pre}) }

// end closes the connection after an idle keep-alive time, or leaves it open.
func (b *bigB) end(idleMean float64) {
	g := b.g
	pre := g.think(idleMean, 110)
	switch r := g.rng.IntN(100); {
	case r < 45:
		b.close(sideClient, pre)
	case r < 70:
		b.close(sideServer, pre)
	case r < 85:
		b.rst(sideClient, pre) // WinINet aborts idle connections
	default: // still open when the session ends
	}
}

// hello is the ClientHello record for sni, the same every time.
func (g *bigGen) hello(sni string) []byte {
	if h, ok := g.hellos[sni]; ok {
		return h
	}
	f := fnv.New32a()
	f.Write([]byte(sni))
	h := tlsHello(sni, byte(f.Sum32()))
	g.hellos[sni] = h
	return h
}

var (
	bigServerFlight = tlsServer(7)
	// ClientKeyExchange (RSA, 128 bytes), ChangeCipherSpec, encrypted Finished.
	bigClientFinish = cat(tlsRecords(cat([]byte{16}, u24(130), u16(128), fill(21, 128))),
		[]byte{20, 3, 1, 0, 1, 1}, []byte{22, 3, 1, 0, 48}, fill(22, 48))
	bigServerFinish = cat([]byte{20, 3, 1, 0, 1, 1}, []byte{22, 3, 1, 0, 48}, fill(23, 48))
)

// tls is the handshake up to the first application data.
func (b *bigB) tls(srv *bigServer, sni string) {
	g := b.g
	b.send(g.hello(sni), 0, false, g.us(100, 800))
	b.recv(bigServerFlight, 0, false, b.rtt(srv))
	b.send(bigClientFinish, 0, false, g.us(300, 3000))
	b.recv(bigServerFinish, 0, false, b.rtt(srv))
}

// respSize is the size of a background response body.
func (g *bigGen) respSize() int {
	switch r := g.rng.IntN(100); {
	case r < 35:
		return 300 + g.rng.IntN(6000)
	case r < 65:
		return 6000 + g.rng.IntN(40000)
	}
	return 40000 + g.rng.IntN(130000)
}

// ---------------------------------------------------------------- sessions

func (g *bigGen) newSession(t int64) *bigSession {
	s := &bigSession{at: t, id: g.nextID, host: g.hosts[g.rng.IntN(len(g.hosts))], v6: g.chance(10)}
	g.nextID++
	if t >= 0 {
		g.st.sessions++
	}
	b := &bigB{g, s}
	switch r := g.rng.IntN(1000); {
	case r < 170:
		b.messenger()
	case r < 450:
		b.bgDNS()
	case r < 750:
		b.bgHTTPS()
	case r < 850:
		b.bgHTTP()
	case r < 870:
		b.bgNTP()
	case r < 900:
		b.bgSSH()
	case r < 980:
		b.bgHigh()
	default:
		b.bgFail()
	}
	if len(s.steps) == 0 {
		panic("empty session")
	}
	return s
}

func (b *bigB) messenger() {
	switch r := b.g.rng.IntN(100); {
	case r < 35:
		b.msnp()
	case r < 55:
		b.login()
	case r < 70:
		b.contacts()
	case r < 85:
		b.gateway(90)
	default:
		b.echo()
	}
}

// msnp is a sign-in on TCP 1863: the dispatch server's XFR, then the
// notification server, then presence and keep-alives for a while.
func (b *bigB) msnp() {
	g, s := b.g, b.s
	s.v6 = false
	if !b.lookup("messenger.hotmail.com", 90, 2) {
		b.note("msnp dns_failed")
		return
	}
	ds := g.srv("messenger.hotmail.com")
	pre := g.us(300, 5000)
	switch r := g.rng.IntN(100); {
	case r < 80:
		b.note("msnp ok")
	case r < 88:
		b.note("msnp dropped")
		b.connect(ds, 1863, cDrop, pre)
		b.gateway(70) // the client falls back to the HTTP gateway
		return
	case r < 92:
		b.note("msnp refused")
		b.connect(ds, 1863, cRefuse, pre)
		b.gateway(70)
		return
	case r < 95:
		b.note("msnp reset")
		b.connect(ds, 1863, cOK, pre)
		b.xchg(ds, msnpVER, msnpVERok, 0, false, g.us(100, 500))
		b.send(msnpCVR, 0, false, g.us(200, 2000))
		b.rst(sideServer, b.rtt(ds))
		return
	default:
		b.note("msnp icmp_unreachable")
		b.connect(ds, 1863, cICMP, pre)
		b.gateway(70)
		return
	}
	b.connect(ds, 1863, cOK, pre)
	ns := g.ns[g.rng.IntN(len(g.ns))]
	b.xchg(ds, msnpVER, msnpVERok, 0, false, g.us(100, 500))
	b.xchg(ds, msnpCVR, msnpCVRok, 0, false, g.us(200, 2000))
	b.xchg(ds, msnpUSR, lines(fmt.Sprintf("XFR 3 NS %d.%d.%d.%d:1863 U D", ns.a4[0], ns.a4[1], ns.a4[2], ns.a4[3])), 0, false, g.us(200, 2000))
	b.close(sideClient, g.us(500, 5000))

	b.connect(ns, 1863, cOK, g.us(2000, 20000))
	b.xchg(ns, msnpVER, msnpVERok, 0, false, g.us(100, 500))
	b.xchg(ns, msnpCVR, msnpCVRok, 0, false, g.us(200, 2000))
	b.xchg(ns, msnpUSR, cat(gcfPolicy, msnpSSOnonc), 0, false, g.us(200, 2000))
	b.xchg(ns, msnpUSRS, msnpUSROK, 0, false, g.us(300_000, 1_500_000)) // after the ticket from login.live.com
	contacts := 20 + g.rng.IntN(300)
	b.xchg(ns, g.memoize(fmt.Sprint("adl", contacts), func() []byte { return msnpPayload("ADL 6", bigADL(contacts)) }), lines("ADL 6 OK"), 0, false, g.us(500, 20000))
	b.xchg(ns, lines("CHG 7 NLN 2789003324:48 0"), g.memoize(fmt.Sprint("chg", contacts/4), func() []byte { return cat(lines("CHG 7 NLN 2789003324:48 0"), bigILN(contacts/4)) }), 0, false, g.us(1000, 50000))
	for n := g.rng.IntN(14); n > 0; n-- {
		pre := g.think(8, 50)
		switch g.rng.IntN(4) {
		case 0:
			b.xchg(ns, lines("PNG"), lines("QNG 50"), 0, false, pre)
		case 1:
			n := 1 + g.rng.IntN(8)
			b.push(kRecv, g.memoize(fmt.Sprint("iln", n), func() []byte { return bigILN(n) }), 0, false, pre)
		case 2:
			b.xchg(ns, msnpPayload("UUX 9", []byte("<Data><PSM>at work</PSM><CurrentMedia></CurrentMedia></Data>")), lines("UUX 9 0"), 0, false, pre)
		case 3:
			b.xchg(ns, lines("XFR 10 SB"), lines("XFR 10 SB 198.51.100.40:1863 CKI 1743299.85710 U messenger.msn.com 1"), 0, false, pre)
		}
	}
	if g.chance(50) {
		b.send(lines("OUT"), 0, false, g.think(10, 60))
		b.close(sideServer, b.rtt(ns))
	}
}

// memoize returns the bytes made for key, making them the first time.
func (g *bigGen) memoize(key string, make func() []byte) []byte {
	if b, ok := g.memo[key]; ok {
		return b
	}
	b := make()
	g.memo[key] = b
	return b
}

// bigADL is an ADL payload listing n contacts.
func bigADL(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`<ml l="1"><d n="example.com">`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, `<c n="contact%03d" l="3" t="1" />`, i)
	}
	sb.WriteString(`</d></ml>`)
	return []byte(sb.String())
}

// bigILN is n initial presence notifications.
func bigILN(n int) []byte {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "ILN 7 NLN contact%03d@example.com 1 Contact%%20%d 2789003324:48 %%3Cmsnobj%%20Creator%%3D%%22contact%03d%%40example.com%%22%%20Size%%3D%%2221914%%22%%2F%%3E\r\n", i, i, i)
	}
	return []byte(sb.String())
}

// gateway is the HTTP gateway: an open request, then polls.
func (b *bigB) gateway(lookupP int) {
	g, s := b.g, b.s
	s.v6 = false
	const host = "gateway.messenger.hotmail.com"
	if !b.lookup(host, lookupP, 2) {
		b.note("gateway dns_failed")
		return
	}
	gw := g.srv(host)
	b.connect(gw, 80, cOK, g.us(1_000_000, 8_000_000))
	if g.chance(7) {
		b.note("gateway http_blocked")
		b.send(gatewayOpen(host, msnpVER), 0, false, g.us(100, 500))
		b.recv(httpMsg("HTTP/1.1 403 Forbidden", []string{"Content-Type: text/html", "Connection: close"},
			"<html><body><h1>403 Forbidden</h1><p>Blocked by policy.</p></body></html>\n"), 0, false, g.us(1000, 5000))
		b.close(sideServer, g.us(100, 1000))
		return
	}
	b.note("gateway ok")
	session := fmt.Sprintf("%d.%d", 1000000000+g.rng.IntN(1000000000), g.rng.IntN(100000))
	reply := func(body []byte) []byte {
		return httpMsg("HTTP/1.1 200 OK", []string{"Cache-Control: no-cache", "Connection: Keep-Alive",
			"Server: Microsoft-IIS/6.0", "X-Powered-By: ASP.NET",
			"X-MSN-Messenger: SessionID=" + session + "; GW-IP=198.51.100.22",
			"Content-Type: application/x-msn-messenger"}, string(body))
	}
	b.xchg(gw, gatewayOpen(host, msnpVER), reply(msnpVERok), 0, false, g.us(100, 500))
	poll := httpMsg("POST /gateway/gateway.dll?Action=poll&SessionID="+session+" HTTP/1.1",
		[]string{"Accept: */*", "User-Agent: MSMSGS", "Host: " + host, "Proxy-Connection: Keep-Alive",
			"Connection: Keep-Alive", "Pragma: no-cache", "Content-Type: application/x-msn-messenger", "Content-Length: 0"}, "")
	polled := []byte(string(reply(nil)))
	news := reply(bigILN(3))
	for n := 2 + g.rng.IntN(12); n > 0; n-- {
		resp := polled
		if g.chance(25) {
			resp = news
		}
		b.xchg(gw, poll, resp, 0, false, g.think(4, 20))
	}
	b.end(20)
}

// login is HTTPS to login.live.com.
func (b *bigB) login() {
	g := b.g
	const host = "login.live.com"
	if !b.lookup(host, 85, 2) {
		b.note("login dns_failed")
		return
	}
	srv := g.srv(host)
	pre := g.us(300, 5000)
	switch r := g.rng.IntN(100); {
	case r < 90:
		b.note("login ok")
	case r < 96:
		b.note("login reset_after_hello")
		b.connect(srv, 443, cOK, pre)
		b.send(g.hello(host), 0, false, g.us(100, 800))
		b.rst(sideServer, srv.rtt/2+g.us(100, 2000))
		return
	default:
		b.note("login dropped")
		b.connect(srv, 443, cDrop, pre)
		return
	}
	b.connect(srv, 443, cOK, pre)
	b.tls(srv, host)
	for n := 1 + g.rng.IntN(3); n > 0; n-- {
		b.send(nil, 1500+g.rng.IntN(3000), true, g.us(200, 3000))
		b.recv(nil, 3000+g.rng.IntN(13000), true, b.rtt(srv)+g.us(5000, 80000))
	}
	b.end(15)
}

// contacts is HTTPS to the address book: a SOAP request and a large answer.
func (b *bigB) contacts() {
	g := b.g
	host := "local-bay.contacts.msn.com"
	if g.chance(40) {
		host = "omega.contacts.msn.com"
	}
	if !b.lookup(host, 85, 2) {
		b.note("contacts dns_failed")
		return
	}
	srv := g.srv(host)
	pre := g.us(300, 5000)
	switch r := g.rng.IntN(100); {
	case r < 87:
		b.note("contacts ok")
	case r < 97:
		b.note("contacts reset_after_hello")
		b.connect(srv, 443, cOK, pre)
		b.send(g.hello(host), 0, false, g.us(100, 800))
		b.rst(sideServer, srv.rtt/2+g.us(100, 2000))
		return
	default:
		b.note("contacts refused")
		b.connect(srv, 443, cRefuse, pre)
		return
	}
	b.connect(srv, 443, cOK, pre)
	b.tls(srv, host)
	for n := 1 + g.rng.IntN(2); n > 0; n-- {
		b.send(nil, 1200+g.rng.IntN(2500), true, g.us(200, 3000))
		b.recv(nil, 10000+g.rng.IntN(120000), true, b.rtt(srv)+g.us(20000, 200000))
	}
	b.end(15)
}

// echo is the UDP 7001 network detection probe.
func (b *bigB) echo() {
	g, s := b.g, b.s
	s.v6 = false
	const host = "echo.edge.messenger.live.com"
	if !b.lookup(host, 90, 2) {
		b.note("echo dns_failed")
		return
	}
	srv := g.srv(host)
	cli := netip.AddrPortFrom(netip.AddrFrom4(s.host.a4), s.host.nextPort())
	tr := g.rng.Uint32()
	probe := bigStep{kind: kUDP, mode: udpNew, srv: srv, port: 7001, cport: cli.Port(), head: echoProbe(cli, tr), pre: g.us(500, 5000)}
	b.add(probe)
	if g.chance(70) {
		b.note("echo ok")
		b.add(bigStep{kind: kUDP, mode: udpFromServer, head: echoReply(cli, netip.AddrFrom4([4]byte{198, 51, 100, 51}), tr), pre: b.rtt(srv)})
		return
	}
	b.note("echo dropped")
	probe.mode, probe.pre = 0, 1_000_000
	b.add(probe)
	b.add(probe)
}

// ---------------------------------------------------------------- background

func (g *bigGen) bgName() string {
	return bigBgHosts[g.rng.IntN(len(bigBgHosts))] + "." + bigBgDomains[g.rng.IntN(len(bigBgDomains))]
}

func (g *bigGen) unnamed() *bigServer { return g.unnamedS[g.rng.IntN(len(g.unnamedS))] }

func (b *bigB) bgDNS() {
	g := b.g
	name := g.bgName()
	st := bigStep{kind: kDNS, name: name, qtype: 1, srv: g.srv(name)}
	if g.chance(30) {
		st.qtype = 28
	}
	if g.chance(4) {
		st.name, st.srv, st.rcode = fmt.Sprintf("nx%d.%s", g.rng.IntN(100000), name), nil, 3 // NXDOMAIN
	}
	b.add(st)
}

func (b *bigB) bgHTTPS() {
	g := b.g
	name := g.bgName()
	b.lookup(name, 60, 0)
	srv := g.srv(name)
	pre := g.us(200, 3000)
	switch r := g.rng.IntN(100); {
	case r < 1:
		b.connect(srv, 443, cRefuse, pre)
		return
	case r < 3:
		b.connect(srv, 443, cDrop, pre)
		return
	}
	b.connect(srv, 443, cOK, pre)
	b.tls(srv, name)
	budget := 170000
	for n, first := 1+g.rng.IntN(5), true; n > 0 && budget > 0; n, first = n-1, false {
		pre := g.us(200, 3000)
		if !first {
			pre = g.think(3, 30)
		}
		if g.chance(10) {
			b.send(nil, 2000+g.rng.IntN(30000), true, pre) // an upload
		} else {
			b.send(nil, 300+g.rng.IntN(1100), true, pre)
		}
		size := min(g.respSize(), budget)
		budget -= size
		b.recv(nil, size, true, b.rtt(srv)+g.us(1000, 40000))
	}
	b.end(60)
}

func (b *bigB) bgHTTP() {
	g := b.g
	name := g.bgName()
	b.lookup(name, 60, 0)
	srv := g.srv(name)
	port := uint16(80)
	if g.chance(5) {
		port = 8080
	}
	b.connect(srv, port, cOK, g.us(200, 3000))
	budget := 170000
	for n, first := 1+g.rng.IntN(4), true; n > 0 && budget > 0; n, first = n-1, false {
		size := min(g.respSize(), budget)
		budget -= size
		path := fmt.Sprintf("/images/%x/%d.jpg", g.rng.Uint32(), g.rng.IntN(1000))
		req := httpMsg("GET "+path+" HTTP/1.1", []string{"Host: " + name,
			"User-Agent: Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
			"Accept: image/png, image/svg+xml, image/*;q=0.8, */*;q=0.5", "Connection: Keep-Alive"}, "")
		resp := httpMsg("HTTP/1.1 200 OK", []string{"Content-Type: image/jpeg",
			fmt.Sprintf("Content-Length: %d", size), "Cache-Control: max-age=3600"}, "")
		pre := g.think(3, 30)
		if first {
			pre = g.us(200, 3000)
		}
		b.send(req, 0, false, pre)
		b.recv(resp, size, false, b.rtt(srv)+g.us(1000, 40000))
	}
	b.end(20)
}

func (b *bigB) bgNTP() {
	g, s := b.g, b.s
	srv := g.unnamed()
	seed := byte(g.rng.IntN(256))
	port := s.host.nextPort()
	b.add(bigStep{kind: kUDP, mode: udpNew, srv: srv, port: 123, cport: port, head: ntpPacket(3, seed)})
	b.add(bigStep{kind: kUDP, mode: udpFromServer, head: ntpPacket(4, seed+1), pre: b.rtt(srv)})
}

func (b *bigB) bgSSH() {
	g := b.g
	srv := g.unnamed()
	b.connect(srv, 22, cOK, 0)
	b.recv(lines("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"), 0, false, b.rtt(srv))
	b.send(lines("SSH-2.0-OpenSSH_for_Windows_9.5"), 0, false, g.us(200, 2000))
	b.send(nil, 1400+g.rng.IntN(200), false, g.us(100, 1000)) // key exchange
	b.recv(nil, 1000+g.rng.IntN(1500), false, b.rtt(srv))
	b.send(nil, 48, false, g.us(1000, 5000))
	b.recv(nil, 500+g.rng.IntN(600), false, b.rtt(srv))
	if g.chance(40) {
		b.send(nil, 50000+g.rng.IntN(160000), false, g.us(100_000, 2_000_000)) // scp upload
		b.push(kRecv, nil, 36, false, b.rtt(srv))
	} else {
		for n := 5 + g.rng.IntN(40); n > 0; n-- { // an interactive shell
			b.send(nil, 36+g.rng.IntN(60), false, g.think(1.5, 20))
			b.recv(nil, 36+g.rng.IntN(900), false, b.rtt(srv))
		}
	}
	b.close(sideClient, g.us(1000, 100000))
}

func (b *bigB) bgHigh() {
	g := b.g
	srv := g.unnamed()
	port := bigHighPorts[g.rng.IntN(len(bigHighPorts))]
	if g.chance(30) {
		port = uint16(10000 + g.rng.IntN(55000))
	}
	b.connect(srv, port, cOK, 0)
	for n := 1 + g.rng.IntN(6); n > 0; n-- {
		b.send(nil, 100+g.rng.IntN(1900), false, g.think(2, 20))
		b.recv(nil, 100+g.rng.IntN(40000), false, b.rtt(srv))
	}
	b.end(20)
}

func (b *bigB) bgFail() {
	g := b.g
	srv := g.unnamed()
	port := uint16(443)
	if g.chance(50) {
		port = bigHighPorts[g.rng.IntN(len(bigHighPorts))]
	}
	mode := uint8(cDrop)
	if g.chance(40) {
		mode = cRefuse
	}
	b.connect(srv, port, mode, 0)
}
