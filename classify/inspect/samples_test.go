package inspect

// Realistic messages shared by the unit tests, allocation tests, benchmarks and
// fuzz seed corpora. The MSNP, gateway and MSNSLP texts follow the wire logs
// and client sources cited in /work/shared/reference/hosts-and-signatures.md §3.

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/msnaudit/msnaudit/classify/inspect/inspecttest"
)

// crlf turns "\n" line ends into "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// ---- TLS ----

// tlsExt is one ClientHello extension for buildClientHello.
type tlsExt struct {
	typ  uint16
	data []byte
}

func sniExt(names ...string) tlsExt {
	var list []byte
	for _, n := range names {
		list = append(list, 0)
		list = binary.BigEndian.AppendUint16(list, uint16(len(n)))
		list = append(list, n...)
	}
	d := binary.BigEndian.AppendUint16(nil, uint16(len(list)))
	return tlsExt{0, append(d, list...)}
}

// buildClientHello returns a ClientHello handshake message (header included).
// exts == nil writes no extensions block at all.
func buildClientHello(version uint16, suites []uint16, exts []tlsExt) []byte {
	body := binary.BigEndian.AppendUint16(nil, version)
	for i := 0; i < 32; i++ {
		body = append(body, byte(0x4a+i*7))
	}
	body = append(body, 32)
	for i := 0; i < 32; i++ {
		body = append(body, byte(0xd0^i))
	}
	body = binary.BigEndian.AppendUint16(body, uint16(2*len(suites)))
	for _, s := range suites {
		body = binary.BigEndian.AppendUint16(body, s)
	}
	body = append(body, 1, 0) // compression: null
	if exts != nil {
		var eb []byte
		for _, e := range exts {
			eb = binary.BigEndian.AppendUint16(eb, e.typ)
			eb = binary.BigEndian.AppendUint16(eb, uint16(len(e.data)))
			eb = append(eb, e.data...)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(eb)))
		body = append(body, eb...)
	}
	hs := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(hs, body...)
}

// records wraps a handshake stream into TLS records of type 22, cutting it at
// the given offsets.
func records(recVersion uint16, hs []byte, cuts ...int) []byte {
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(hs)) {
		frag := hs[prev:c]
		out = append(out, 22, byte(recVersion>>8), byte(recVersion))
		out = binary.BigEndian.AppendUint16(out, uint16(len(frag)))
		out = append(out, frag...)
		prev = c
	}
	return out
}

// win7ClientHello is a ClientHello shaped like Windows 7 Schannel's TLS 1.0
// hello to login.live.com (server_name, status_request, elliptic curves, point
// formats, renegotiation_info).
func win7ClientHello(host string) []byte {
	suites := []uint16{0x002f, 0x0035, 0x0005, 0x000a, 0xc013, 0xc014, 0xc009, 0xc00a, 0x0032, 0x0038, 0x0013, 0x0004}
	exts := []tlsExt{
		sniExt(host),
		{0x0005, []byte{1, 0, 0, 0, 0}},
		{0x000a, []byte{0, 6, 0, 0x17, 0, 0x18, 0, 0x19}},
		{0x000b, []byte{1, 0}},
		{0xff01, []byte{0}},
	}
	return records(0x0301, buildClientHello(0x0301, suites, exts))
}

// xpClientHello is a Windows XP Schannel TLS 1.0 hello: no extensions at all.
func xpClientHello() []byte {
	suites := []uint16{0x0004, 0x0005, 0x000a, 0x0009, 0x0064, 0x0062, 0x0003, 0x0006, 0x0013, 0x0012, 0x0063}
	return records(0x0301, buildClientHello(0x0301, suites, nil))
}

// goClientHello is a ClientHello crypto/tls sends (a modern TLS 1.3 hello
// with key shares and many extensions).
func goClientHello(tb testing.TB) []byte {
	return inspecttest.ClientHello(tb, "contacts.msn.com")
}

// ---- HTTP ----

var (
	gatewayOpen = crlf(`POST http://gateway.messenger.hotmail.com/gateway/gateway.dll?Action=open&Server=NS&IP=messenger.hotmail.com HTTP/1.1
Accept: */*
Accept-Language: en-us
User-Agent: MSMSGS
Host: gateway.messenger.hotmail.com
Proxy-Connection: Keep-Alive
Connection: Keep-Alive
Pragma: no-cache
Content-Type: application/x-msn-messenger
Content-Length: 17

VER 1 MSNP18 CVR0
`)
	gatewayPoll = crlf(`POST /gateway/gateway.dll?Action=poll&SessionID=1863471289.1234 HTTP/1.1
Accept: */*
Content-Type: text/xml; charset=utf-8
User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; Windows Live Messenger 8.0.0792)
Host: by2msg3010710.by2.gateway.edge.messenger.live.com
Content-Length: 0

`)
	connectReq = crlf(`CONNECT messenger.hotmail.com:1863 HTTP/1.0
User-Agent: MSN Explorer/9.0 (MSN 8.0; TmstmpExt)
Host: messenger.hotmail.com
Content-Length: 0
Proxy-Connection: Keep-Alive
Pragma: no-cache

`)
	soapReq = crlf(`POST /abservice/abservice.asmx HTTP/1.1
SOAPAction: http://www.msn.com/webservices/AddressBook/ABFindAll
Content-Type: text/xml; charset=utf-8
Cookie: MSPAuth=Xu8ADQfH0
User-Agent: MSN Explorer/9.0 (MSN 8.0; TmstmpExt)
Host: local-bay.contacts.msn.com
Content-Length: 1114
Cache-Control: no-cache

<?xml version="1.0" encoding="utf-8"?>`)
	gatewayResp = crlf(`HTTP/1.1 200 OK
Server: Microsoft-IIS/6.0
Date: Sat, 14 Mar 2009 10:15:02 GMT
X-MSN-Messenger: SessionID=1863471289.1234; GW-IP=207.46.110.43
Content-Type: application/x-msn-messenger
Content-Length: 13

VER 1 MSNP18
`)
	proxy407 = crlf(`HTTP/1.1 407 Proxy Authentication Required ( Forefront TMG requires authorization to fulfill the request. Access to the Web Proxy filter is denied.  )
Via: 1.1 ISA01
Proxy-Authenticate: Negotiate
Proxy-Authenticate: Kerberos
Proxy-Authenticate: NTLM
Connection: Keep-Alive
Proxy-Connection: Keep-Alive
Pragma: no-cache
Cache-Control: no-cache
Content-Type: text/html
Content-Length: 4120

`)
)

// ---- MSNP ----

var (
	msnpClientLogin = crlf(`VER 1 MSNP18 MSNP17 CVR0
CVR 2 0x0409 winnt 6.0 i386 MSNMSGR 14.0.8089.0726 msmsgs alice@hotmail.com
USR 3 SSO I alice@hotmail.com
`)
	msnpDispatch = crlf(`VER 1 MSNP18
CVR 2 14.0.8089 14.0.8089 14.0.8089 http://msgruser.dlservice.microsoft.com/download/A/6/1/A616CCD4-B0CA-4A3D-B975-3EDB38081B38/en/wlsetup-cvr.exe http://download.live.com/?sku=messenger
XFR 3 NS 64.4.44.39:1863 U D
`)
	gcfPayload  = `<Policies><Policy type="SHIELDS"><config><shield><cli maj="7" min="0" /></shield></config></Policy></Policies>`
	hotmailBody = crlf("MIME-Version: 1.0\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\nLoginTime: 1237025702\nXFR 9 SB 6.6.6.6:1863 CKI x\n\n")
	msnpNS      = crlf(`VER 1 MSNP18
CVR 2 14.0.8089 14.0.8089 14.0.8089 http://msgruser.dlservice.microsoft.com/download/wlsetup-cvr.exe http://download.live.com/?sku=messenger
GCF 0 `+itoa(len(gcfPayload))+`
`) + gcfPayload + crlf(`USR 3 SSO S MBI_KEY_OLD 8CLhG/xfgYZ7TyRQ/jIAWyDmd/w4R4GF2yKLS6tYrnjzi4cFag/Nr+hxsfg5zlz5
USR 4 OK alice@hotmail.com 1 0
MSG Hotmail Hotmail `+itoa(len(hotmailBody))+`
`) + hotmailBody + crlf(`XFR 15 SB 207.46.108.37:1863 CKI 17262740.1050826919.32308 U messenger.msn.com 1
RNG 11752013 207.46.108.38:1863 CKI 849102291.520491113 bob@passport.com Bob%20Smith U messenger.msn.com 1
XFR 16 SB [2001:db8:0:1::25]:1863 CKI 1726.1050.323
XFR 17 SB sb.escargot.chat:1863 CKI 1726.1050.324
`)
	msnpSwitchboardUSR = crlf("USR 1 alice@hotmail.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0} 17262740.1050826919.32308\n")
	msnpSwitchboardANS = crlf("ANS 1 bob@hotmail.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0} 849102291.520491113 11752013\n")
)

// ---- MSNSLP and legacy invitations ----

// p2pHeader is a 48-byte MSNP2P v1 binary header (session 0, id, offset 0,
// total and message sizes, flags 0, ack fields).
func p2pHeader(size int) string {
	h := make([]byte, 48)
	binary.LittleEndian.PutUint32(h[4:], 0x0a3d5c8e)
	binary.LittleEndian.PutUint64(h[16:], uint64(size))
	binary.LittleEndian.PutUint32(h[24:], uint32(size))
	binary.LittleEndian.PutUint32(h[32:], 0x7a41c3e9)
	return string(h)
}

func p2pMSG(trid int, dest, slp string) string {
	payload := crlf("MIME-Version: 1.0\nContent-Type: application/x-msnmsgrp2p\nP2P-Dest: "+dest+"\n\n") +
		p2pHeader(len(slp)) + slp + "\x00\x00\x00\x00"
	return "MSG " + itoa(trid) + " D " + itoa(len(payload)) + "\r\n" + payload
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

var (
	slpFileInvite = p2pMSG(5, "bob@hotmail.com", crlf(`INVITE MSNMSGR:bob@hotmail.com MSNSLP/1.0
To: <msnmsgr:bob@hotmail.com>
From: <msnmsgr:alice@hotmail.com>
Via: MSNSLP/1.0/TLP ;branch={A0D624A6-6C0C-4283-A9E0-BC97B4B46D32}
CSeq: 0 
Call-ID: {8B3A1F2B-5B2B-4C16-9E4B-3C0B6C4F7E11}
Max-Forwards: 0
Content-Type: application/x-msnmsgr-sessionreqbody
Content-Length: 326

EUF-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}
SessionID: 1980589
AppID: 2
Context: PgIAAAIAAAAVAAAAAAAAAAEAAABhAC4AdAB4AHQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA

`)+"\x00")

	slpWebcamInvite = crlf(`INVITE MSNMSGR:bob@hotmail.com MSNSLP/1.0
To: <msnmsgr:bob@hotmail.com>
From: <msnmsgr:alice@hotmail.com>
Via: MSNSLP/1.0/TLP ;branch={5C1E8A73-0D0C-4E4B-8D2E-5E0E8E5B41C7}
CSeq: 0 
Call-ID: {D9B8F2A0-4C3B-4E1F-A1F5-1E0B7F4F2C33}
Max-Forwards: 0
Content-Type: application/x-msnmsgr-sessionreqbody
Content-Length: 212

EUF-GUID: {4bd96fc0-ab17-4425-a14a-439185962dc8}
SessionID: 2871522
AppID: 4
Context: ewBCADgAQgBFADcAMABEAEUALQBFADIAQwBBAC0ANAA0ADAAMAAtAEEARQAwADMALQA4ADgARgBGADgANQBCADkARgA0AEUAOAB9AA==

`) + "\x00"

	slpTransResp = crlf(`MSNSLP/1.0 200 OK
To: <msnmsgr:alice@hotmail.com>
From: <msnmsgr:bob@hotmail.com>
Via: MSNSLP/1.0/TLP ;branch={A0D624A6-6C0C-4283-A9E0-BC97B4B46D32}
CSeq: 1 
Call-ID: {8B3A1F2B-5B2B-4C16-9E4B-3C0B6C4F7E11}
Max-Forwards: 0
Content-Type: application/x-msnmsgr-transrespbody
Content-Length: 241

Bridge: TCPv1
Listening: true
Conn-Type: Port-Restrict-NAT
TCP-Conn-Type: Port-Restrict-NAT
IPv6-global: 2001:db8:1c:4d::7
Nonce: {0A9F8B22-3E9E-4BB4-A7F2-2F40B1C41E91}
IPv4External-Addrs: 86.12.200.7
IPv4External-Port: 6891
IPv4Internal-Addrs: 192.168.1.33 10.8.0.6
IPv4Internal-Port: 3796

`) + "\x00"

	// WLM 2009 (MSNP18) transreqbody with reversed header names and values.
	slpWLM2009Trans = crlf(`INVITE MSNMSGR:bob@hotmail.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0} MSNSLP/1.0
To: <msnmsgr:bob@hotmail.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}>
From: <msnmsgr:alice@hotmail.com;{1B7CE0C2-96A6-4C3F-8F1C-2E0BA16DF9B1}>
Via: MSNSLP/1.0/TLP ;branch={33517CE4-02FC-4428-B6F4-39927229B722}
CSeq: 0 
Call-ID: {9D79AE57-1BD5-444B-B14E-3FC9BB2B5D58}
Max-Forwards: 0
Content-Type: application/x-msnmsgr-transreqbody
Content-Length: 386

Bridges: TCPv1 SBBridge
NetID: -1388627126
Conn-Type: IP-Restrict-NAT
TCP-Conn-Type: IP-Restrict-NAT
UPnPNat: false
ICF: false
Nonce: {D5B26E1D-C8B4-4D4E-B4B6-6C6B1E34F09A}
Hashed-Nonce: {2B95F56D-9CA0-9A64-82CE-ADC1F3C55B3A}
srddA-lanretxE4vPI: `+reverse("81.56.140.22")+`
troP-lanretxE4vPI: `+reverse("50213")+`
srddA-lanretnI4vPI: `+reverse("192.168.0.10 169.254.7.12")+`
troP-lanretnI4vPI: `+reverse("50214")+`
stroPdnAsrddAlanretxE4vPI: `+reverse("81.56.140.22:50300")+`

`) + "\x00"

	legacyFileInvite = crlf(`MSG 7 N 306
MIME-Version: 1.0
Content-Type: text/x-msmsgsinvite; charset=UTF-8

Application-Name: File Transfer
Application-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}
Invitation-Command: INVITE
Invitation-Cookie: 84937611
Application-File: holiday.jpg
Application-FileSize: 183421
Connectivity: N

`)
	// Miranda's ACCEPT: PortX and PortX-Internal are XORed with 0x3141.
	legacyAccept = crlf(`MSG 9 N 285
MIME-Version: 1.0
Content-Type: text/x-msmsgsinvite; charset=UTF-8

Invitation-Command: ACCEPT
Invitation-Cookie: 84937611
IP-Address: 81.56.140.22
IP-Address-Internal: 192.168.0.10
Port: 6891
PortX: ` + itoa(6891^0x3141) + `
PortX-Internal: ` + itoa(6892^0x3141) + `
AuthCookie: 1872391
Launch-Application: FALSE
Request-Data: IP-Address:

`)
	legacyNetMeeting = crlf(`MSG bob@hotmail.com Bob 293
MIME-Version: 1.0
Content-Type: text/x-msmsgsinvite; charset=UTF-8

Application-Name: NetMeeting
Application-GUID: {44BBA842-CC51-11CF-AAFA-00AA00B6015C}
Session-Protocol: SM1
Invitation-Command: INVITE
Invitation-Cookie: 25402056
Session-ID: {C4E9035F-CCEB-40F0-8F17-135FB734073B}

`)
	legacyVoice = crlf(`MSG digsby03@hotmail.com digsby 502
MIME-Version: 1.0
Content-Type: text/x-msmsgsinvite; charset=UTF-8

Application-Name: an audio conversation
Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}
Session-Protocol: SM1
Context-Data: Requested:SIP_A,;Capabilities:SIP_A,;
Invitation-Command: INVITE
Avm-Support: 7
Avm-Request: 2
Invitation-Cookie: 24443504
Session-ID: {EE086C37-D672-44C2-9AA9-57151CEB0BEF}
Conn-Type: IP-Restrict-NAT
Sip-Capability: 1
Public-IP: 129.21.160.34
Private-IP: 192.168.1.102
UPnP: TRUE

`)
	legacyRA = crlf(`MSG bob@hotmail.com Bob 260
MIME-Version: 1.0
Content-Type: text/x-msmsgsinvite; charset=UTF-8

Application-Name: Remote Assistance
Application-GUID: {56b994a7-380f-410b-9985-c809d78c1bdc}
Session-Protocol: SM1
Invitation-Command: INVITE
Invitation-Cookie: 19210302
Session-ID: {1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9}

`)
	chatMessage = crlf(`MSG alice@hotmail.com Alice 133
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=0; CS=0; PF=0

are you coming to the party tonight? :)`)
)

// ---- DNS ----

// dnsRR is one answer record for buildDNS.
type dnsRR struct {
	name   string
	typ    uint16
	class  uint16
	rdata  []byte // for CNAME, nil means "use target"
	target string
}

// buildDNS writes a DNS message with name compression (suffixes already
// written are replaced by pointers).
func buildDNS(id uint16, flags uint16, qname string, qtype uint16, answers []dnsRR) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b, id)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], uint16(len(answers)))
	seen := map[string]int{}
	writeName := func(n string) {
		n = strings.TrimSuffix(n, ".")
		for n != "" {
			if off, ok := seen[n]; ok {
				b = binary.BigEndian.AppendUint16(b, uint16(0xc000|off))
				return
			}
			if len(b) < 0x3fff {
				seen[n] = len(b)
			}
			label, rest, _ := strings.Cut(n, ".")
			b = append(b, byte(len(label)))
			b = append(b, label...)
			n = rest
		}
		b = append(b, 0)
	}
	writeName(qname)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1)
	for _, rr := range answers {
		writeName(rr.name)
		b = binary.BigEndian.AppendUint16(b, rr.typ)
		class := rr.class
		if class == 0 {
			class = 1
		}
		b = binary.BigEndian.AppendUint16(b, class)
		b = binary.BigEndian.AppendUint32(b, 300)
		lenAt := len(b)
		b = append(b, 0, 0)
		if rr.typ == 5 && rr.rdata == nil {
			writeName(rr.target)
		} else {
			b = append(b, rr.rdata...)
		}
		binary.BigEndian.PutUint16(b[lenAt:], uint16(len(b)-lenAt-2))
	}
	return b
}

func ip4(a, b, c, d byte) []byte { return []byte{a, b, c, d} }

var (
	dnsMessengerQuery = buildDNS(0x2b1f, 0x0100, "messenger.hotmail.com", 1, nil)
	// messenger.hotmail.com → CNAME chain → two A records, with a 0x20-mixed-case question.
	dnsMessengerResp = buildDNS(0x2b1f, 0x8180, "MeSsEnGeR.hOtMaIl.CoM", 1, []dnsRR{
		{name: "messenger.hotmail.com", typ: 5, target: "messenger.hotmail.com.nsatc.net"},
		{name: "messenger.hotmail.com.nsatc.net", typ: 5, target: "baymsg1020127.gateway.edge.messenger.live.com"},
		{name: "baymsg1020127.gateway.edge.messenger.live.com", typ: 1, rdata: ip4(65, 54, 239, 80)},
		{name: "baymsg1020127.gateway.edge.messenger.live.com", typ: 1, rdata: ip4(65, 54, 239, 140)},
	})
	dnsNXDomain = buildDNS(0x7c01, 0x8183, "config.messenger.msn.com", 1, nil)
	dnsSinkhole = buildDNS(0x7c02, 0x8180, "login.live.com", 1, []dnsRR{
		{name: "login.live.com", typ: 1, rdata: ip4(0, 0, 0, 0)},
	})
	dnsAAAA = buildDNS(0x11aa, 0x8180, "echo.edge.messenger.live.com", 28, []dnsRR{
		{name: "echo.edge.messenger.live.com", typ: 5, target: "echo.messenger.live.com.akadns.net"},
		{name: "echo.messenger.live.com.akadns.net", typ: 28, rdata: []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x70, 0x01}},
	})
)
