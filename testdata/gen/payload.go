package main

// Application payloads: TLS handshakes, HTTP, MSNP, MSNSLP, the echo probe,
// STUN/TURN, SIP, RDP, NTP, SSH. All bytes are fixed or derived from arguments.

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// ---------------------------------------------------------------- TLS

// fill returns n bytes derived from seed (stand-in for random values).
func fill(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 12345
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func u16(v int) []byte { return []byte{byte(v >> 8), byte(v)} }
func u24(v int) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }

// vec16 prefixes b with its 16-bit length.
func vec16(b ...[]byte) []byte {
	body := cat(b...)
	return append(u16(len(body)), body...)
}

func cat(b ...[]byte) []byte {
	var out []byte
	for _, x := range b {
		out = append(out, x...)
	}
	return out
}

func ext(typ int, data []byte) []byte { return cat(u16(typ), vec16(data)) }

// clientHello returns a TLS ClientHello handshake message (type, length, body)
// as Windows 7 SChannel sends it for Messenger 2009 (TLS 1.0 with extensions).
// sni "" leaves out server_name; padTo > 0 adds a padding extension so the
// message is padTo bytes long.
func clientHello(sni string, seed byte, padTo int) []byte {
	suites := []int{0x002f, 0x0035, 0x0005, 0x000a, 0xc013, 0xc014, 0xc009, 0xc00a, 0x0032, 0x0038, 0x0013, 0x0004}
	var cs []byte
	for _, s := range suites {
		cs = append(cs, u16(s)...)
	}
	var exts []byte
	if sni != "" {
		name := cat([]byte{0}, u16(len(sni)), []byte(sni)) // host_name
		exts = append(exts, ext(0x0000, vec16(name))...)
	}
	exts = append(exts, ext(0x0005, []byte{1, 0, 0, 0, 0})...)                        // status_request (OCSP)
	exts = append(exts, ext(0x000a, vec16(u16(0x0017), u16(0x0018), u16(0x0019)))...) // supported_groups: secp256r1, secp384r1, secp521r1
	exts = append(exts, ext(0x000b, []byte{1, 0})...)                                 // ec_point_formats: uncompressed
	exts = append(exts, ext(0xff01, []byte{0})...)                                    // renegotiation_info
	body := cat(u16(0x0301), fill(seed, 32), []byte{0}, vec16(cs), []byte{1, 0})
	msgLen := func(e []byte) int { return 4 + len(body) + 2 + len(e) }
	if padTo > 0 {
		n := padTo - msgLen(exts) - 4
		if n < 0 {
			panic("clientHello: padTo too small")
		}
		exts = append(exts, ext(0x0015, make([]byte, n))...) // padding
	}
	body = append(body, vec16(exts)...)
	return cat([]byte{1}, u24(len(body)), body)
}

// serverHello returns ServerHello + ServerHelloDone handshake messages.
func serverHello(seed byte) []byte {
	body := cat(u16(0x0301), fill(seed+100, 32), []byte{32}, fill(seed+101, 32), u16(0x002f), []byte{0},
		vec16(ext(0xff01, []byte{0})))
	return cat([]byte{2}, u24(len(body)), body, []byte{14, 0, 0, 0})
}

// tlsRecords wraps handshake bytes in TLS records, cutting after each size in cuts.
func tlsRecords(hs []byte, cuts ...int) []byte {
	var out []byte
	for _, n := range append(cuts, len(hs)) {
		if n > len(hs) {
			n = len(hs)
		}
		out = append(out, cat([]byte{22, 3, 1}, u16(n), hs[:n])...)
		hs = hs[n:]
	}
	return out
}

// tlsHello is a one-record ClientHello for sni.
func tlsHello(sni string, seed byte) []byte { return tlsRecords(clientHello(sni, seed, 0)) }

// tlsServer is a one-record ServerHello+ServerHelloDone.
func tlsServer(seed byte) []byte { return tlsRecords(serverHello(seed)) }

// tlsOK is a complete TLS exchange up to the server's first flight, then a clean close.
func (t *tcpConv) tlsOK(sni string, seed byte) *tcpConv {
	return t.handshake().send(tlsHello(sni, seed)).recv(tlsServer(seed)).ack().close()
}

// ---------------------------------------------------------------- HTTP

// httpMsg builds a request or response: start line, headers ("Name: value"), body.
// Content-Length is added when body is not empty.
func httpMsg(start string, headers []string, body string) []byte {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return []byte(b.String())
}

// ---------------------------------------------------------------- MSNP

const (
	email     = "alice@example.com"
	peerEmail = "bob@example.com"
	machineID = "{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}"
)

func lines(l ...string) []byte { return []byte(strings.Join(l, "\r\n") + "\r\n") }

var (
	msnpVER     = lines("VER 1 MSNP18 MSNP17 CVR0")
	msnpVERok   = lines("VER 1 MSNP18")
	msnpCVR     = lines("CVR 2 0x0409 winnt 6.0 i386 MSNMSGR 14.0.8089.0726 msmsgs " + email)
	msnpCVRok   = lines("CVR 2 14.0.8089 14.0.8089 14.0.8089 http://msgruser.dlservice.microsoft.com/download/A/6/1/A616CCD4-B0CA-4A3D-B975-3EDB38081B38/en/wlsetup-cvr.exe http://download.live.com/?sku=messenger")
	msnpUSR     = lines("USR 3 SSO I " + email)
	msnpSSOnonc = lines("USR 3 SSO S MBI_KEY_OLD 8CLhG/xfgYZ7TyRQ/jIAWyDmd/w4R4GF2yKLS6tYrnjzi4cFag/Nr+hxsfg5zlCf")
	msnpUSRS    = lines("USR 4 SSO S t=EwCoARAnAAAUTdc3BOjkWkdjS3SdNlUCmmmC8Q5pTQ2pPkemEQAAAx6tpw== " +
		"HAAAAAEAAAADZgAABIAAAAgAAAAUAAAASAAAAAAAAAAAAAAA7XgT5ohvaZdoXdrWUUxQ+ofEVyFkt/g4Jw==")
	msnpUSROK = lines("USR 4 OK " + email + " 1 0")
)

// msnpPayload is a payload command: the command line with the byte count, then the payload.
func msnpPayload(prefix string, payload []byte) []byte {
	return append([]byte(fmt.Sprintf("%s %d\r\n", prefix, len(payload))), payload...)
}

// gcfPolicy is the Shields policy the NS sends after login.
var gcfPolicy = msnpPayload("GCF 0", []byte(`<Policies><Policy type="SHIELDS"><config><shield><cli maj="7" min="0" minbld="0" maxbld="9999" deny=" " /></shield><block></block></config></Policy></Policies>`))

// ---------------------------------------------------------------- MSNSLP

// slpMessage is an MSNSLP message (start line, headers, body) inside the 48-byte
// P2P v1 binary header and the 4-byte application id footer, inside the
// switchboard MIME headers.
func slpMessage(start, to, from, via, callID, cseq, contentType, body string) []byte {
	body += "\r\n\x00"
	slp := fmt.Sprintf("%s\r\nTo: <msnmsgr:%s>\r\nFrom: <msnmsgr:%s>\r\nVia: MSNSLP/1.0/TLP ;branch=%s\r\n"+
		"CSeq: %s \r\nCall-ID: %s\r\nMax-Forwards: 0\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		start, to, from, via, cseq, callID, contentType, len(body), body)
	hdr := make([]byte, 48)
	binary.LittleEndian.PutUint32(hdr[0:], 0)                           // SessionID (0: SLP)
	binary.LittleEndian.PutUint32(hdr[4:], 0x3a1e0000+uint32(len(slp))) // BaseID
	binary.LittleEndian.PutUint64(hdr[16:], uint64(len(slp)))           // TotalSize
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(slp)))           // MessageSize
	binary.LittleEndian.PutUint32(hdr[32:], 0x00dd51e5)                 // AckSessionID
	mime := "MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\nP2P-Dest: " + to + "\r\n\r\n"
	return cat([]byte(mime), hdr, []byte(slp), []byte{0, 0, 0, 0})
}

// slpInvite is the client's INVITE to bob.
func slpInvite(callID, contentType, body string) []byte {
	return slpMessage("INVITE MSNMSGR:"+peerEmail+" MSNSLP/1.0", peerEmail, email,
		"{A0D624A6-6C0C-4283-A9E0-BC97B4B46D32}", callID, "0", contentType, body)
}

// slpOK is bob's 200 OK.
func slpOK(callID, contentType, body string) []byte {
	return slpMessage("MSNSLP/1.0 200 OK", email, peerEmail,
		"{A0D624A6-6C0C-4283-A9E0-BC97B4B46D32}", callID, "1", contentType, body)
}

// sessionReq is a sessionreqbody for an EUF-GUID.
func sessionReq(eufGUID string, sessionID, appID int, context []byte) string {
	return fmt.Sprintf("EUF-GUID: %s\r\nSessionID: %d\r\nAppID: %d\r\nContext: %s\r\n",
		eufGUID, sessionID, appID, base64.StdEncoding.EncodeToString(context))
}

// transReq is the client's transport request.
func transReq(sessionID int) string {
	return fmt.Sprintf("Bridges: TCPv1\r\nNetID: -1388492601\r\nConn-Type: IP-Restrict-NAT\r\nTCP-Conn-Type: IP-Restrict-NAT\r\n"+
		"UPnPNat: false\r\nICF: false\r\nHashed-Nonce: {2B95F56D-9CA0-9A64-82CE-ADC1F3C55845}\r\nSessionID: %d\r\n", sessionID)
}

// transResp is the peer's transport response announcing where it listens.
func transResp(sessionID int, ep netip.AddrPort) string {
	return fmt.Sprintf("Bridge: TCPv1\r\nListening: true\r\nConn-Type: Direct-Connect\r\nTCP-Conn-Type: Direct-Connect\r\n"+
		"IPv4External-Addrs: %s\r\nIPv4External-Port: %d\r\nIPv4Internal-Addrs: %s\r\nIPv4Internal-Port: %d\r\n"+
		"Hashed-Nonce: {2B95F56D-9CA0-9A64-82CE-ADC1F3C55845}\r\nSessionID: %d\r\nSChannelState: 0\r\nCapabilities-Flags: 1\r\n",
		ep.Addr(), ep.Port(), ep.Addr(), ep.Port(), sessionID)
}

// legacyInvite is a text/x-msmsgsinvite message with the given fields.
func legacyInvite(fields ...string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n" +
		strings.Join(fields, "\r\n") + "\r\n\r\n")
}

// sbFromClient wraps a message from the client in a switchboard MSG command.
func sbFromClient(trID int, ack string, msg []byte) []byte {
	return msnpPayload(fmt.Sprintf("MSG %d %s", trID, ack), msg)
}

// sbFromPeer wraps a message from bob as the switchboard delivers it.
func sbFromPeer(msg []byte) []byte { return msnpPayload("MSG "+peerEmail+" Bob", msg) }

// msncFoo is the direct-connection handshake: length 4, "foo\0".
var msncFoo = []byte{4, 0, 0, 0, 'f', 'o', 'o', 0}

// msncNonce is a length-prefixed 48-byte P2P v1 header carrying a nonce (flags 0x100).
func msncNonce(seed byte) []byte {
	h := make([]byte, 48)
	binary.LittleEndian.PutUint32(h[28:], 0x100)
	copy(h[32:], fill(seed, 16))
	return append([]byte{48, 0, 0, 0}, h...)
}

// ---------------------------------------------------------------- echo probe (UDP 7001)

// echoProbe is the 20-byte network detection probe (version 2, service 4: my IP).
func echoProbe(cli netip.AddrPort, trID uint32) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 2, 4
	binary.BigEndian.PutUint16(b[2:], cli.Port())
	if cli.Addr().Is4() {
		copy(b[4:8], cli.Addr().AsSlice())
	}
	binary.BigEndian.PutUint32(b[16:], trID)
	return b
}

// echoReply is the server's answer: the client's public address and the test
// endpoints, XORed with 0x3141 / 0x31413141.
func echoReply(cli netip.AddrPort, test netip.Addr, trID uint32) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 2, 4
	binary.BigEndian.PutUint16(b[2:], cli.Port()^0x3141)
	binary.BigEndian.PutUint32(b[4:], ip4(cli.Addr())^0x31413141)
	binary.BigEndian.PutUint16(b[8:], 9^0x3141)
	binary.BigEndian.PutUint16(b[10:], 7001^0x3141)
	binary.BigEndian.PutUint32(b[12:], ip4(test)^0x31413141)
	binary.BigEndian.PutUint32(b[16:], trID)
	return b
}

// ip4 is a as a number, 0 for IPv6 (the probe has room for IPv4 only).
func ip4(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	return binary.BigEndian.Uint32(a.AsSlice())
}

// ---------------------------------------------------------------- STUN / TURN

func stunAttr(typ int, v []byte) []byte {
	pad := (4 - len(v)%4) % 4
	return cat(u16(typ), u16(len(v)), v, make([]byte, pad))
}

func stunMsg(typ int, txID []byte, attrs ...[]byte) []byte {
	body := cat(attrs...)
	return cat(u16(typ), u16(len(body)), []byte{0x21, 0x12, 0xa4, 0x42}, txID, body)
}

func xorAddr(a netip.AddrPort) []byte {
	ip := ip4(a.Addr()) ^ 0x2112a442
	return cat([]byte{0, 1}, u16(int(a.Port()^0x2112)), []byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
}

// turnAllocate is a TURN Allocate request (UDP transport) with the RPS ticket username.
func turnAllocate(txID []byte) []byte {
	return stunMsg(0x0003, txID,
		stunAttr(0x0006, []byte("RPS_EwCoARAnAAAUTdc3BOjkWkdjS3SdNlUCmmmC8Q5p")), // USERNAME
		stunAttr(0x0019, []byte{17, 0, 0, 0}),                                    // REQUESTED-TRANSPORT: UDP
		stunAttr(0x8022, []byte("Windows Live Messenger 14.0")))                  // SOFTWARE
}

// turnAllocated is the Allocate success response.
func turnAllocated(txID []byte, relayed, mapped netip.AddrPort) []byte {
	return stunMsg(0x0103, txID,
		stunAttr(0x0016, xorAddr(relayed)),      // XOR-RELAYED-ADDRESS
		stunAttr(0x0020, xorAddr(mapped)),       // XOR-MAPPED-ADDRESS
		stunAttr(0x000d, []byte{0, 0, 2, 0x58})) // LIFETIME 600
}

// ---------------------------------------------------------------- others

// ntpPacket is a 48-byte NTPv4 packet (mode 3 client, 4 server).
func ntpPacket(mode byte, seed byte) []byte {
	b := make([]byte, 48)
	b[0] = 4<<3 | mode
	if mode == 4 {
		b[1], b[2], b[3] = 2, 3, 0xe9
		copy(b[12:16], []byte{203, 0, 113, 1})
	}
	copy(b[40:48], fill(seed, 8)) // transmit timestamp
	return b
}

// rdpConnReq is an X.224 Connection Request with a cookie and an RDP negotiation request.
func rdpConnReq() []byte {
	cookie := "Cookie: mstshash=alice\r\n"
	x224 := cat([]byte{0xe0, 0, 0, 0, 0, 0}, []byte(cookie), []byte{1, 0, 8, 0, 3, 0, 0, 0})
	x224 = append([]byte{byte(len(x224))}, x224...)
	return cat([]byte{3, 0}, u16(4+len(x224)), x224)
}

// rdpConnConfirm is the X.224 Connection Confirm selecting TLS.
func rdpConnConfirm() []byte {
	return []byte{3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0, 8, 0, 1, 0, 0, 0}
}
