package inspect

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestDirectHandshake(t *testing.T) {
	for in, want := range map[string]Result{
		"\x04\x00\x00\x00foo\x00":                             Match,
		"\x04\x00\x00\x00foo\x00\x30\x00\x00\x00\x00\x00\x00": Match,
		"\x04\x00\x00\x00fo":                                  NeedMore,
		"":                                                    NeedMore,
		"\x04\x00\x00\x00bar\x00":                             NoMatch,
		"\x05\x00\x00\x00foo\x00":                             NoMatch,
		"VER MSNFTP\r\n":                                      NoMatch,
	} {
		if got := DirectHandshake([]byte(in)); got != want {
			t.Errorf("DirectHandshake(%q) = %v, want %v", in, got, want)
		}
	}
}

var (
	sipRegister = crlf(`REGISTER sip:vp.sip.messenger.msn.com SIP/2.0
Via: SIP/2.0/TLS 192.168.1.33:52011;branch=z9hG4bK6c4f12a1
Max-Forwards: 70
From: <sip:alice@hotmail.com>;tag=8a1b9c2d;epid=51a6b2f4e1
To: <sip:alice@hotmail.com>
Call-ID: 1e6a2b3c4d5e6f708192a3b4c5d6e7f8
CSeq: 1 REGISTER
Contact: <sip:192.168.1.33:52011;transport=tls;ms-opaque=d3470f2e1d>;methods="INVITE, MESSAGE, INFO, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY";proxy=replace;+sip.instance="<urn:uuid:F52973B6-C926-4BAD-9BA8-7C1E840E4AB0>"
User-Agent: UCCAPI/2.0.6362.111 OC/2.0.6362.111 (Windows Live Messenger)
Authorization: Basic bXNtc2dzOlJQU190MT1Fd0NvQVE9PQ==
ms-keep-alive: UAC;hop-hop=yes
Content-Length: 0

`)
	sipOK = crlf(`SIP/2.0 200 OK
Via: SIP/2.0/TLS 192.168.1.33:52011;branch=z9hG4bK6c4f12a1;ms-received-port=52011;ms-received-cid=3A00
CSeq: 1 REGISTER
Content-Length: 0

`)
)

func TestSIP(t *testing.T) {
	tests := []struct {
		in   string
		want Result
	}{
		{sipRegister, Match},
		{sipOK, Match},
		{"INVITE sip:bob@hotmail.com SIP/2.0\r\n", Match},
		{"SERVICE sips:alice@hotmail.com;gruu SIP/2.0\n", Match},
		{"BYE SIP:bob@example.com SIP/2.0\r\n", Match},
		{"SIP/2.0 407 Proxy Authentication Required\r\n", Match},
		{"SIP/2.0 180\r\n", Match},
		{"", NeedMore},
		{"S", NeedMore},
		{"SUBSCR", NeedMore},
		{"SIP/2", NeedMore},
		{"SIP/2.0 20", NeedMore},
		{"SIP/2.0 200", NeedMore},
		{"OPTIONS ", NeedMore},
		{"OPTIONS si", NeedMore},
		{"OPTIONS sip:x", NeedMore},
		{"OPTIONS sip:x SIP/2.", NeedMore},
		{"OPTIONS sip:x SIP/2.0\r", NeedMore},
		{"GET / HTTP/1.1\r\n", NoMatch},
		{"PUBLISHX sip:x SIP/2.0\r\n", NoMatch},
		{"INVITE http://x SIP/2.0\r\n", NoMatch},
		{"INVITE sip:x HTTP/1.1\r\n", NoMatch},
		{"INVITE sip:x SIP/2.0 \r\n", NoMatch},
		{"SIP/2.0 099 x\r\n", NoMatch},
		{"SIP/2.0 2000\r\n", NoMatch},
		{"SIP/1.0 200 OK\r\n", NoMatch},
		{"SSH-2.0-OpenSSH\r\n", NoMatch},
		{"invite sip:x SIP/2.0\r\n", NoMatch},
		{"INVITE sip:" + strings.Repeat("a", MaxSIPLine), NoMatch},
	}
	for _, tt := range tests {
		if got := SIP([]byte(tt.in)); got != tt.want {
			t.Errorf("SIP(%.40q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{sipRegister, sipOK} {
		end := strings.Index(in, "\r\n") + 2
		if in[:3] == "SIP" {
			end = len("SIP/2.0 200 ")
		}
		for i := 0; i < len(in); i++ {
			want := NeedMore
			if i >= end {
				want = Match
			}
			if got := SIP([]byte(in[:i])); got != want {
				t.Fatalf("prefix %d of %.20q: %v, want %v", i, in, got, want)
			}
		}
	}
}

// echoProbe builds a UDPProbePkt as Miranda's msn_natdetect.cpp sends it.
func echoProbe(service byte, clientPort uint16, clientIP uint32) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 2, service
	binary.LittleEndian.PutUint16(b[2:], clientPort)
	binary.LittleEndian.PutUint32(b[4:], clientIP)
	return b
}

func TestEchoProbe(t *testing.T) {
	reply := echoProbe(1, 0xc52e^0x3141, 0x5600c851^0x31413141)
	binary.LittleEndian.PutUint16(reply[8:], 9^0x3141)
	binary.LittleEndian.PutUint16(reply[10:], 7001^0x3141)
	tests := []struct {
		in   []byte
		want Result
	}{
		{echoProbe(4, 0, 0), Match},               // detect my IP
		{echoProbe(1, 0x3141, 0x31413141), Match}, // echo request
		{echoProbe(3, 0x3141, 0x31413141), Match}, // test via the second server
		{reply, Match},                                        // server reply
		{echoProbe(4, 0, 0)[:7], NeedMore},                    // short
		{nil, NeedMore},                                       //
		{echoProbe(5, 0, 0), NoMatch},                         // unknown service code
		{echoProbe(0, 0, 0), NoMatch},                         //
		{append(echoProbe(1, 0, 0), 0), NoMatch},              // 21 bytes
		{[]byte{1, 1}, NoMatch},                               // version 1
		{[]byte("\x00\x01\x00\x08\x21\x12\xa4\x42"), NoMatch}, // STUN
	}
	for _, tt := range tests {
		if got := EchoProbe(tt.in); got != tt.want {
			t.Errorf("EchoProbe(% x) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// stunMsg builds a STUN/TURN message: 20-byte header, then attributes (each
// padded to 4 bytes when pad is set).
func stunMsg(typ uint16, cookie uint32, pad bool, attrs ...[]byte) []byte {
	var body []byte
	for i := 0; i+1 < len(attrs); i += 2 {
		body = binary.BigEndian.AppendUint16(body, binary.BigEndian.Uint16(attrs[i]))
		body = binary.BigEndian.AppendUint16(body, uint16(len(attrs[i+1])))
		body = append(body, attrs[i+1]...)
		for pad && len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	b = binary.BigEndian.AppendUint32(b, cookie)
	b = append(b, 0x8f, 0x2e, 0x61, 0x0c, 0x55, 0x91, 0x7a, 0x03, 0xbe, 0x44, 0x12, 0x9d) // transaction id
	return append(b, body...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func TestTURN(t *testing.T) {
	// papyon's Shared Secret request: USERNAME "RPS_<ticket>\0\0\0", not padded.
	sharedSecret := stunMsg(0x0002, 0x6a1f33c0, false, u16(6), []byte("RPS_t=EwCoAQ==&p=\x00\x00\x00"))
	sharedSecretResp := stunMsg(0x0102, 0x6a1f33c0, false, u16(6), []byte("user1234"), u16(7), []byte("pass5678"),
		u16(0x8023), []byte{0, 1, 0x01, 0xbb, 65, 54, 52, 10})
	binding := stunMsg(0x0001, stunMagicCookie, true, u16(0x0006), []byte("bob:alice"), u16(0x8022), []byte("WLM"), u16(0x8028), []byte{1, 2, 3, 4})
	bindingResp := stunMsg(0x0101, stunMagicCookie, true, u16(0x0020), []byte{0, 1, 0xe1, 0x3d, 0x71, 0x2a, 0x3e, 0x4c})
	msTURNAllocate := stunMsg(0x0003, 0x8f2e610c, true, u16(0x000f), []byte{0x72, 0xc6, 0x4b, 0xc6}, u16(0x0006), []byte("RPS_abc"))
	tests := []struct {
		name string
		in   []byte
		want Result
	}{
		{"old turn shared secret request", sharedSecret, Match},
		{"old turn shared secret response", sharedSecretResp, Match},
		{"rfc5389 binding request", binding, Match},
		{"rfc5389 binding response", bindingResp, Match},
		{"rfc5389 no attributes", stunMsg(0x0001, stunMagicCookie, true), Match},
		{"ms-turn allocate", msTURNAllocate, Match},
		{"two messages on a stream", append(append([]byte{}, binding...), binding...), Match},
		{"header prefix", binding[:12], NeedMore},
		{"body prefix", binding[:24], NeedMore},
		{"shared secret prefix", sharedSecret[:30], NeedMore},
		{"empty", nil, NeedMore},
		{"first bits set", []byte{0x40, 0x01, 0, 0}, NoMatch},
		{"rfc5389 length not multiple of 4", func() []byte { b := append([]byte{}, binding...); b[3]++; return b }(), NoMatch},
		{"rfc5389 lying attribute length", func() []byte { b := append([]byte{}, binding...); b[23] = 0x40; return b }(), NoMatch},
		{"shared secret, no attributes", stunMsg(0x0002, 0x11223344, false), NoMatch},
		{"shared secret, lying attribute", func() []byte { b := append([]byte{}, sharedSecret...); b[23] = 0x7f; return b }(), NoMatch},
		{"other type without cookie", stunMsg(0x0001, 0x11223344, true, u16(6), []byte("abcd")), NoMatch},
		{"ms-turn cookie outside the declared length", []byte("00\x00\x000000000000000000\x00\x0f\x00\x04r\xc6K\xc6"), NoMatch},
		{"dns query", dnsMessengerQuery, NoMatch},
		{"tls", win7ClientHello("relay.voice.messenger.msn.com"), NoMatch},
		{"echo probe", echoProbe(4, 0, 0), NoMatch},
	}
	for _, tt := range tests {
		if got := TURN(tt.in); got != tt.want {
			t.Errorf("%s: TURN = %v, want %v", tt.name, got, tt.want)
		}
	}
}
