package main

// The scenarios: each builds one capture from conversation-builder calls and
// states, flow by flow, what the classifier must conclude.

import (
	"encoding/binary"
	"net/http"
	"net/netip"
	"time"
	"unicode/utf16"

	"github.com/gopacket/gopacket/layers"
)

// Messenger servers (198.51.100.0/24), as DNS names them.
const (
	nsIP       = "198.51.100.20" // messenger.hotmail.com
	ns2IP      = "198.51.100.21" // notification server named by XFR
	gwIP       = "198.51.100.22" // gateway.messenger.hotmail.com
	edgeGwIP   = "198.51.100.23" // by2msg3010710.by2.gateway.edge.messenger.live.com
	loginIP    = "198.51.100.25" // login.live.com
	contactsIP = "198.51.100.30" // local-bay.contacts.msn.com
	owsIP      = "198.51.100.32" // ows.messenger.msn.com
	configIP   = "198.51.100.35" // config.messenger.msn.com
	sbIP       = "198.51.100.40" // switchboard named by XFR SB
	echoIP     = "198.51.100.50" // echo.edge.messenger.live.com
	echoTestIP = "198.51.100.51" // the echo server's second (test) address
	relayIP    = "198.51.100.60" // relay.voice.messenger.msn.com
	sipIP      = "198.51.100.61" // vp.sip.messenger.msn.com
	proxy      = "192.0.2.1:8080"
)

const sec = time.Second

// ---------------------------------------------------------------- shared pieces

func (c *capture) httpDate() string { return c.t0.Add(c.now).Format(http.TimeFormat) }

// gatewayOpen is the HTTP gateway request opening an NS session.
func gatewayOpen(host string, body []byte) []byte {
	return httpMsg("POST /gateway/gateway.dll?Action=open&Server=NS&IP=messenger.hotmail.com HTTP/1.1",
		[]string{"Accept: */*", "Accept-Language: en-us", "User-Agent: MSMSGS", "Host: " + host,
			"Proxy-Connection: Keep-Alive", "Connection: Keep-Alive", "Pragma: no-cache",
			"Content-Type: application/x-msn-messenger"}, string(body))
}

// gatewayReply is the gateway's answer carrying MSNP in the body.
func (c *capture) gatewayReply(session, gwAddr string, body []byte) []byte {
	return httpMsg("HTTP/1.1 200 OK", []string{"Cache-Control: no-cache", "Connection: Keep-Alive",
		"Date: " + c.httpDate(), "Server: Microsoft-IIS/6.0", "X-Powered-By: ASP.NET",
		"X-MSN-Messenger: SessionID=" + session + "; GW-IP=" + gwAddr,
		"Content-Type: application/x-msn-messenger"}, string(body))
}

// msnpLogin is the WLM 2009 login up to USR I on an NS connection.
func (t *tcpConv) msnpLogin() *tcpConv {
	return t.send(msnpVER).recv(msnpVERok).send(msnpCVR).recv(msnpCVRok).send(msnpUSR)
}

// tinyMSNP is the small ok flow of the link-type captures.
func (t *tcpConv) tinyMSNP() *tcpConv {
	return t.handshake().send(lines("VER 1 MSNP18 CVR0")).recv(msnpVERok).close()
}

func pad(p []byte, n int) []byte { return append(p, make([]byte, n-len(p))...) }

// ---------------------------------------------------------------- 1. sample.pcapng

// sample is the README's failing client: direct MSNP is dropped, the HTTP
// gateway and login work, the contact list is reset after the ClientHello,
// network detection is dropped, whiteboard is blocked by a firewall.
func sample() *capture {
	c := newCapture()
	c.resolve("example.com", "203.0.113.10")
	c.tcp("203.0.113.10:443", want{ok, background, "www.example.com", "background HTTPS"}).tlsOK("www.example.com", 1)

	c.wait(300 * time.Millisecond)
	c.resolve("messenger.hotmail.com", nsIP)
	c.tcp(nsIP+":1863", want{dropped, signIn, "messenger.hotmail.com", "4 SYNs at 0, 1, 3, 7 s, no answer"}).
		synRetries(0, 1*sec, 3*sec, 7*sec)

	c.wait(500 * time.Millisecond)
	c.resolve("gateway.messenger.hotmail.com", gwIP)
	c.tcp(gwIP+":80", want{ok, signIn, "gateway.messenger.hotmail.com", "HTTP gateway fallback"}).
		handshake().send(gatewayOpen("gateway.messenger.hotmail.com", msnpVER)).
		recv(c.gatewayReply("1055374441.28543", gwIP, msnpVERok)).ack().close()

	c.resolve("login.live.com", loginIP)
	c.tcp(loginIP+":443", want{ok, signIn, "login.live.com", "TLS with SNI"}).tlsOK("login.live.com", 2)

	c.resolve("local-bay.contacts.msn.com", contactsIP)
	c.tcp(contactsIP+":443", want{resetAfterHello, signIn, "local-bay.contacts.msn.com", "RST right after the ClientHello"}).
		handshake().send(tlsHello("local-bay.contacts.msn.com", 3)).rst()

	c.tcp("203.0.113.12:22", want{ok, background, "", "background SSH"}).handshake().
		recv(lines("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")).send(lines("SSH-2.0-OpenSSH_for_Windows_9.5")).close()

	c.resolve("echo.edge.messenger.live.com", echoIP)
	u := c.udp(echoIP+":7001", want{dropped, netDetect, "echo.edge.messenger.live.com", "3 echo probes, no answer"})
	u.sendEvery(echoProbe(u.cli, 0x5eed0001), 3, sec)

	c.wait(500 * time.Millisecond)
	wb := c.tcp("203.0.113.40:1503", want{icmpUnreachable, whiteboard, "", "ICMP 3/13 (administratively prohibited) from the firewall"}).syn()
	c.icmpUnreachable(router4, 13, wb.last)

	c.wait(10*sec + 500*time.Millisecond)
	c.udp("203.0.113.123:123", want{ok, background, "", "background NTP, ends the capture 10.5 s after the last failure"}).
		send(ntpPacket(3, 1)).recv(ntpPacket(4, 2))
	return c
}

// ---------------------------------------------------------------- 2. outcomes.pcapng

// outcomes has one flow per outcome and one lookup per DNS failure kind.
func outcomes() *capture {
	c := newCapture()
	c.resolve("messenger.hotmail.com", nsIP)
	c.tcp(nsIP+":1863", want{ok, signIn, "messenger.hotmail.com", "ok: dispatch server login answered by XFR to 198.51.100.21"}).
		handshake().msnpLogin().recv(lines("XFR 3 NS 198.51.100.21:1863 U D")).close()
	c.tcp(ns2IP+":1863", want{ok, signIn, "messenger.hotmail.com", "ok: the notification server the XFR named (host inherited from the redirecting connection)"}).
		handshake().msnpLogin().recv(cat(gcfPolicy, msnpSSOnonc)).send(msnpUSRS).recv(msnpUSROK).ack().close()

	c.tcp("203.0.113.41:1503", want{refused, whiteboard, "", "refused: TCP 1503 SYN answered by RST/ACK"}).syn().refuse()

	c.tcp("198.51.100.24:1863", want{dropped, signIn, "", "dropped: 4 SYNs at 0, 1, 3, 7 s, no answer"}).
		synRetries(0, 1*sec, 3*sec, 7*sec)

	c.wait(200 * time.Millisecond)
	c.tcp("198.51.100.26:1863", want{reset, signIn, "", "reset: MSNP exchanged both ways, then a RST from the server"}).
		handshake().msnpLogin().rst()

	c.resolve("login.live.com", loginIP)
	c.tcp(loginIP+":443", want{resetAfterHello, signIn, "login.live.com", "reset_after_hello: ClientHello (SNI login.live.com) answered by RST"}).
		handshake().send(tlsHello("login.live.com", 4)).rst()

	t := c.tcp("198.51.100.27:1863", want{icmpUnreachable, signIn, "", "icmp_unreachable: SYN answered by ICMP 3/13 (administratively prohibited) from router 192.0.2.254"}).syn()
	c.icmpUnreachable(router4, 13, t.last)

	c.resolve("echo.edge.messenger.live.com", echoIP)
	u := c.udp(echoIP+":7001", want{icmpUnreachable, netDetect, "echo.edge.messenger.live.com", "icmp_unreachable: UDP 7001 probe answered by ICMP 3/3 (port unreachable)"})
	u.send(echoProbe(u.cli, 0x5eed0002))
	c.icmpUnreachable(netip.MustParseAddr(echoIP), 3, u.last)

	c.tcp(proxy, want{proxyAuth, signIn, "messenger.hotmail.com", "proxy_auth: CONNECT messenger.hotmail.com:1863 answered 407 by the proxy"}).
		handshake().send(httpMsg("CONNECT messenger.hotmail.com:1863 HTTP/1.1", []string{"User-Agent: MSMSGS",
		"Host: messenger.hotmail.com:1863", "Content-Length: 0", "Proxy-Connection: Keep-Alive", "Pragma: no-cache"}, "")).
		recv(httpMsg("HTTP/1.1 407 Proxy Authentication Required", []string{"Proxy-Authenticate: NTLM",
			`Proxy-Authenticate: Basic realm="proxy.example.net"`, "Connection: close", "Proxy-Connection: close",
			"Content-Type: text/html"}, "<html><body><h1>407 Proxy Authentication Required</h1></body></html>\n")).
		serverClose()

	c.resolve("config.messenger.msn.com", configIP)
	c.tcp(configIP+":80", want{httpBlocked, signIn, "config.messenger.msn.com", "http_blocked: GET /Config/MsgrConfig.asmx answered 403"}).
		handshake().send(httpMsg("GET /Config/MsgrConfig.asmx HTTP/1.1", []string{"Accept: */*",
		"User-Agent: MSN Messenger 14.0.8089.0726", "Host: config.messenger.msn.com", "Connection: Keep-Alive"}, "")).
		recv(httpMsg("HTTP/1.1 403 Forbidden", []string{"Date: " + c.httpDate(), "Content-Type: text/html",
			"Connection: close"}, "<html><body><h1>403 Forbidden</h1><p>Blocked by policy.</p></body></html>\n")).
		serverClose()

	c.dnsFail("vp.sip.messenger.msn.com", layers.DNSResponseCodeNXDomain)
	c.dnsFail("relay.voice.messenger.msn.com", layers.DNSResponseCodeServFail)
	c.dnsFail("appdirectory.messenger.msn.com", layers.DNSResponseCodeRefused)
	c.resolve("rad.msn.com", "0.0.0.0")
	c.resolve("g.msn.com", "::1")

	c.resolveCNAME("local-bay.contacts.msn.com", "local-bay.contacts.msn.com.edgesuite.net", contactsIP)
	c.tcp(contactsIP+":443", want{ok, signIn, "local-bay.contacts.msn.com", "ok: TLS without SNI, named by the DNS answer (CNAME chain)"}).
		tlsOK("", 5)

	u = c.udp(echoIP+":7001", want{ok, netDetect, "echo.edge.messenger.live.com", "ok: echo probe answered with 20 bytes"})
	u.send(echoProbe(u.cli, 0x5eed0003)).recv(echoReply(u.cli, netip.MustParseAddr(echoTestIP), 0x5eed0003))

	c.wait(6 * sec)
	c.tcp(nsIP+":1863", want{incomplete, signIn, "messenger.hotmail.com", "incomplete: SYN is the last packet of the capture"}).syn()
	return c
}

// ---------------------------------------------------------------- 3. link types

// linkFlow is the tiny MSNP flow of the link-type captures, starting at
// baseTime+offset (a sub-microsecond offset for the nanosecond files).
func linkFlow(server string, offset time.Duration) *capture {
	c := newCapture()
	c.t0 = c.t0.Add(offset)
	c.tcp(server, want{ok, signIn, "", "MSNP VER on TCP 1863"}).tinyMSNP()
	return c
}

// linkMulti has two copies of the tiny flow, one per interface, interleaved.
func linkMulti() *capture {
	c := newCapture()
	a := c.tcp(nsIP+":1863", want{ok, signIn, "", "on interface 0 (Ethernet)"})
	c.iface = 1
	b := c.tcp(nsIP+":1863", want{ok, signIn, "", "on interface 1 (raw IPv4, nanosecond timestamps)"})
	steps := []func(t *tcpConv){
		func(t *tcpConv) { t.syn() },
		func(t *tcpConv) { t.synAck() },
		func(t *tcpConv) { t.ack() },
		func(t *tcpConv) { t.send(lines("VER 1 MSNP18 CVR0")) },
		func(t *tcpConv) { t.recv(msnpVERok) },
		func(t *tcpConv) { t.close() },
	}
	for _, s := range steps {
		s(a)
		s(b)
	}
	return c
}

// ---------------------------------------------------------------- 4. ipv6.pcapng

func ipv6() *capture {
	c := newCapture()
	c.resolve("messenger.hotmail.com", "2001:db8:1::20")
	t := c.tcp("[2001:db8:1::20]:1863", want{ok, signIn, "messenger.hotmail.com", "client packets carry Hop-by-Hop and Destination Options headers"})
	t.ext = true
	t.handshake().msnpLogin().recv(cat(gcfPolicy, msnpSSOnonc)).send(msnpUSRS).recv(msnpUSROK).close()

	t = c.tcp("[2001:db8:1::21]:1863", want{icmpUnreachable, signIn, "", "ICMPv6 1/1 (administratively prohibited) quoting the SYN"}).syn()
	c.icmp6Unreachable(router6, 1, t.last)

	c.resolve("echo.edge.messenger.live.com", "2001:db8:1::50")
	u := c.udp("[2001:db8:1::50]:7001", want{ok, netDetect, "echo.edge.messenger.live.com", "2000-byte probe in 2 IPv6 fragments, answered"})
	u.sendFragmented(pad(echoProbe(u.cli, 0x5eed0006), 2000), 1232, -1).
		recv(echoReply(u.cli, netip.MustParseAddr("2001:db8:1::51"), 0x5eed0006))
	return c
}

// ---------------------------------------------------------------- 5. fragments.pcap

func fragments() *capture {
	c := newCapture()
	c.resolve("echo.edge.messenger.live.com", echoIP)
	u := c.udp(echoIP+":7001", want{ok, netDetect, "echo.edge.messenger.live.com", "3000-byte probe in 3 IPv4 fragments, the second sent twice"})
	u.sendFragmented(pad(echoProbe(u.cli, 0x5eed0005), 3000), 1480, 1).
		recv(echoReply(u.cli, netip.MustParseAddr(echoTestIP), 0x5eed0005))
	return c
}

// ---------------------------------------------------------------- 6. tls-split.pcap

func tlsSplit() *capture {
	c := newCapture()
	c.resolve("login.live.com", loginIP)
	hello := tlsRecords(clientHello("login.live.com", 6, 3000))
	c.tcp(loginIP+":443", want{ok, signIn, "login.live.com", "3005-byte ClientHello in 3 TCP segments written 2, 1, 3"}).
		handshake().sendSegments(hello, []int{1460, 1460}, []int{1, 0, 2}).recv(tlsServer(6)).ack().close()

	c.resolve("ows.messenger.msn.com", owsIP)
	c.tcp(owsIP+":443", want{ok, background, "ows.messenger.msn.com", "ClientHello fragmented across two TLS records (SNI in the second)"}).
		handshake().send(tlsRecords(clientHello("ows.messenger.msn.com", 7, 0), 60)).recv(tlsServer(7)).ack().close()
	return c
}

// ---------------------------------------------------------------- 7. gateway.pcap

func gateway() *capture {
	c := newCapture()
	c.tcp(gwIP+":80", want{ok, signIn, "gateway.messenger.hotmail.com", "gateway open to an IP, named by the Host header"}).
		handshake().send(gatewayOpen("gateway.messenger.hotmail.com", msnpVER)).
		recv(c.gatewayReply("1055374441.28543", gwIP, msnpVERok)).ack().close()

	host := "by2msg3010710.by2.gateway.edge.messenger.live.com"
	c.resolve(host, edgeGwIP)
	c.tcp(edgeGwIP+":80", want{ok, signIn, host, "WLM 2009 gateway poll"}).
		handshake().send(httpMsg("POST /gateway/gateway.dll?Action=poll&SessionID=3175409522.3201 HTTP/1.1",
		[]string{"Accept: */*", "User-Agent: MSMSGS", "Host: " + host, "Connection: Keep-Alive", "Pragma: no-cache",
			"Content-Type: application/x-msn-messenger", "Content-Length: 0"}, "")).
		recv(c.gatewayReply("3175409522.3201", edgeGwIP, lines("CHL 0 29409134351025259292"))).ack().close()

	c.tcp("203.0.113.70:80", want{ok, background, "www.example.net", "User-Agent MSMSGS but not the gateway path"}).
		handshake().send(httpMsg("GET /news/today.htm HTTP/1.1", []string{"Accept: */*", "User-Agent: MSMSGS",
		"Host: www.example.net", "Connection: Keep-Alive"}, "")).
		recv(httpMsg("HTTP/1.1 200 OK", []string{"Date: " + c.httpDate(), "Content-Type: text/html; charset=utf-8"},
			"<html><body><p>Today's news.</p></body></html>\n")).ack().close()
	return c
}

// ---------------------------------------------------------------- 8. filetransfer.pcap

// EUF-GUIDs and legacy Application-GUIDs.
const (
	eufFileTransfer = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
	eufWebcam       = "{4BD96FC0-AB17-4425-A14A-439185962DC8}"
	guidRA          = "{56b994a7-380f-410b-9985-c809d78c1bdc}"
	guidNetMeeting  = "{44BBA842-CC51-11CF-AAFA-00AA00B6015C}"
)

// ftContext is the file-transfer invitation context: 574 bytes with size and UTF-16 name.
func ftContext(name string, size uint64) []byte {
	b := make([]byte, 574)
	binary.LittleEndian.PutUint32(b[0:], 574)
	binary.LittleEndian.PutUint32(b[4:], 2)
	binary.LittleEndian.PutUint64(b[8:], size)
	binary.LittleEndian.PutUint32(b[16:], 1) // no preview
	for i, r := range utf16.Encode([]rune(name)) {
		binary.LittleEndian.PutUint16(b[20+2*i:], r)
	}
	copy(b[570:], []byte{0xff, 0xff, 0xff, 0xff})
	return b
}

func utf16z(s string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, r)
	}
	return append(b, 0, 0)
}

func fileTransferCapture() *capture {
	c := newCapture()
	c.resolve("messenger.hotmail.com", nsIP)
	ns := c.tcp(nsIP+":1863", want{ok, signIn, "messenger.hotmail.com", "notification server session"})
	ns.handshake().msnpLogin().recv(cat(gcfPolicy, msnpSSOnonc)).send(msnpUSRS).recv(msnpUSROK).
		send(lines("XFR 10 SB")).recv(lines("XFR 10 SB 198.51.100.40:1863 CKI 17262740.1050826919.32308"))

	sb := c.tcp(sbIP+":1863", want{ok, signIn, "messenger.hotmail.com", "switchboard the XFR SB named (host inherited from the NS connection)"})
	sb.handshake().
		send(lines("USR 1 " + email + ";" + machineID + " 17262740.1050826919.32308")).
		recv(lines("USR 1 OK " + email + ";" + machineID + " Alice")).
		send(lines("CAL 2 " + peerEmail)).
		recv(lines("CAL 2 RINGING 11752013", "JOI "+peerEmail+";{4AE8F9D0-6B1A-4C3E-8D2F-0A1B2C3D4E5F} Bob 2789003324:48"))

	// File transfer: session invite, transport negotiation, direct connection with the foo handshake.
	const ftCall, ftSession = "{9D79AE57-1BD5-444B-B14E-3FC9BB2B5D58}", 1980589
	ftPeer := netip.MustParseAddrPort("203.0.113.50:5050")
	sb.send(sbFromClient(3, "D", slpInvite(ftCall, "application/x-msnmsgr-sessionreqbody",
		sessionReq(eufFileTransfer, ftSession, 2, ftContext("holiday.jpg", 48213))))).
		recv(sbFromPeer(slpOK(ftCall, "application/x-msnmsgr-sessionreqbody", "SessionID: 1980589\r\n"))).
		send(sbFromClient(4, "D", slpInvite(ftCall, "application/x-msnmsgr-transreqbody", transReq(ftSession)))).
		recv(sbFromPeer(slpOK(ftCall, "application/x-msnmsgr-transrespbody", transResp(ftSession, ftPeer))))
	c.tcp(ftPeer.String(), want{ok, fileTransfer, "", "direct connection to the endpoint of the file-transfer invitation (evidence: signaling; MSNC foo handshake)"}).
		handshake().send(msncFoo).send(msncNonce(8)).recv(msncNonce(9)).close()

	// Webcam: session invite, transport negotiation, direct connection.
	const camCall, camSession = "{4C2E1A38-9F47-4F68-9E83-2C1E1D1F0A11}", 2113441
	camPeer := netip.MustParseAddrPort("203.0.113.53:5566")
	sb.send(sbFromClient(5, "D", slpInvite(camCall, "application/x-msnmsgr-sessionreqbody",
		sessionReq(eufWebcam, camSession, 4, utf16z("{B8BE70DE-E2CA-4400-AE03-88FF85B9F4E8}"))))).
		recv(sbFromPeer(slpOK(camCall, "application/x-msnmsgr-sessionreqbody", "SessionID: 2113441\r\n"))).
		send(sbFromClient(6, "D", slpInvite(camCall, "application/x-msnmsgr-transreqbody", transReq(camSession)))).
		recv(sbFromPeer(slpOK(camCall, "application/x-msnmsgr-transrespbody", transResp(camSession, camPeer))))
	c.tcp(camPeer.String(), want{ok, webcam, "", "direct connection to the endpoint of the webcam invitation"}).
		handshake().send([]byte("recipientid=bob@example.com&sessionid=2113441\r\n\r\n")).
		recv([]byte("connected\r\n\r\n")).send([]byte("connected\r\n\r\n")).close()

	// Remote Assistance: legacy invitation, accepted with an address, then RDP.
	sb.send(sbFromClient(7, "N", legacyInvite("Application-Name: Remote Assistance", "Application-GUID: "+guidRA,
		"Session-Protocol: SM1", "Invitation-Command: INVITE", "Invitation-Cookie: 40316",
		"Session-ID: {E1D2C3B4-A596-4788-9A0B-1C2D3E4F5061}"))).
		recv(sbFromPeer(legacyInvite("Application-Name: Remote Assistance", "Application-GUID: "+guidRA,
			"Invitation-Command: ACCEPT", "Invitation-Cookie: 40316", "Session-ID: {E1D2C3B4-A596-4788-9A0B-1C2D3E4F5061}",
			"Launch-Application: TRUE", "IP-Address: 203.0.113.51", "Port: 3389")))
	c.tcp("203.0.113.51:3389", want{ok, remoteAssist, "", "RDP to the endpoint of the accepted Remote Assistance invitation"}).
		handshake().send(rdpConnReq()).recv(rdpConnConfirm()).close()

	// NetMeeting (whiteboard/application sharing): accepted, then T.120 on 1503 is refused.
	sb.send(sbFromClient(8, "N", legacyInvite("Application-Name: NetMeeting", "Application-GUID: "+guidNetMeeting,
		"Session-Protocol: SM1", "Invitation-Command: INVITE", "Invitation-Cookie: 40317",
		"Session-ID: {0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9}"))).
		recv(sbFromPeer(legacyInvite("Application-Name: NetMeeting", "Application-GUID: "+guidNetMeeting,
			"Invitation-Command: ACCEPT", "Invitation-Cookie: 40317", "Session-ID: {0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9}",
			"Session-Protocol: SM1", "Launch-Application: TRUE", "Request-Data: IP-Address:", "IP-Address: 203.0.113.52")))
	c.tcp("203.0.113.52:1503", want{refused, whiteboard, "", "T.120 to the endpoint of the accepted NetMeeting invitation, refused"}).
		syn().refuse()

	sb.send(lines("OUT")).serverClose()
	ns.send(lines("OUT")).serverClose()
	return c
}

// ---------------------------------------------------------------- 9. background.pcap

func backgroundCapture() *capture {
	c := newCapture()
	c.resolve("example.com", "203.0.113.10")
	c.tcp("203.0.113.10:443", want{ok, background, "www.example.com", "HTTPS with SNI to a site that is not Messenger"}).
		tlsOK("www.example.com", 10)
	c.resolve("example.org", "203.0.113.11")
	c.tcp("203.0.113.11:80", want{ok, background, "example.org", "plain HTTP"}).
		handshake().send(httpMsg("GET / HTTP/1.1", []string{"Host: example.org", "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
		"Accept: text/html", "Connection: keep-alive"}, "")).
		recv(httpMsg("HTTP/1.1 200 OK", []string{"Date: " + c.httpDate(), "Content-Type: text/html; charset=UTF-8"},
			"<!doctype html><html><body><h1>Example Domain</h1></body></html>\n")).ack().close()
	c.tcp("203.0.113.12:22", want{ok, background, "", "SSH"}).handshake().
		recv(lines("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")).send(lines("SSH-2.0-OpenSSH_for_Windows_9.5")).close()
	c.udp("203.0.113.123:123", want{ok, background, "", "NTP"}).send(ntpPacket(3, 3)).recv(ntpPacket(4, 4))
	c.tcp("203.0.113.80:8080", want{ok, possible, "", "opaque TCP to 8080: only the article's wide port ranges match"}).
		handshake().send([]byte{0x00, 0x0c, 0x51, 0x7a, 0x01, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef}).
		recv([]byte{0x00, 0x08, 0x51, 0x7b, 0x00, 0x00, 0x00, 0x00}).close()
	c.tcp("203.0.113.90:443", want{ok, background, "", "HTTPS without SNI to an address no DNS answer named"}).tlsOK("", 11)
	c.ping(netip.MustParseAddr("203.0.113.10"), 1) // ICMP echo: not a TCP/UDP flow, not listed
	return c
}

// ---------------------------------------------------------------- 10. sip-relay.pcap

func sipRelay() *capture {
	c := newCapture()
	c.resolve("vp.sip.messenger.msn.com", sipIP)
	s := c.tcp(sipIP+":5061", want{ok, liveCall, "vp.sip.messenger.msn.com", "SIP REGISTER on TCP 5061"})
	via := "SIP/2.0/TCP " + s.cli.String() + ";branch=z9hG4bK7c5a1e0f"
	from := "<sip:" + email + ">;tag=5b1b7a3c0d;epid=01010101"
	callID := "3d8f2a6c9b1e4f70a5c2d4e6f8091a2b"
	s.handshake().send(httpMsg("REGISTER sip:vp.sip.messenger.msn.com SIP/2.0", []string{
		"Via: " + via, "Max-Forwards: 70", "From: " + from, "To: <sip:" + email + ">", "Call-ID: " + callID,
		"CSeq: 1 REGISTER", "Contact: <sip:" + s.cli.String() + ";transport=tcp>;methods=\"INVITE, MESSAGE, INFO, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER\"",
		"User-Agent: UCCAPI/2.0.6362.0 OC/2.0.6362.0 (Windows Live Messenger 14.0)",
		"Authorization: Basic bXNtc2dzOlJQU19Fd0NvQVJBbkFBQVVUZGMzQk9qa1drZGpTM1NkTmxVQ21tbUM4UTVw",
		"ms-keep-alive: UAC;hop-hop=yes", "Supported: gruu-10, adhoclist", "Event: registration", "Expires: 3600",
		"Content-Length: 0"}, "")).
		recv(httpMsg("SIP/2.0 200 OK", []string{"Via: " + via, "From: " + from, "To: <sip:" + email + ">;tag=9a8b7c6d",
			"Call-ID: " + callID, "CSeq: 1 REGISTER", "Contact: <sip:" + s.cli.String() + ";transport=tcp>;expires=3600",
			"ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-pt=no; timeout=300", "Content-Length: 0"}, "")).
		ack().close()

	c.resolve("relay.voice.messenger.msn.com", relayIP)
	c.tcp(relayIP+":443", want{ok, voiceVideo, "relay.voice.messenger.msn.com", "TLS with SNI to the TURN relay"}).
		tlsOK("relay.voice.messenger.msn.com", 12)

	u := c.udp(relayIP+":3478", want{ok, voiceVideo, "relay.voice.messenger.msn.com", "TURN Allocate (magic cookie) on UDP 3478, named by DNS"})
	tx := fill(13, 12)
	u.send(turnAllocate(tx)).recv(turnAllocated(tx, netip.MustParseAddrPort(relayIP+":50102"), u.cli))
	return c
}
