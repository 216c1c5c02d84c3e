package inspect

// Other Messenger signatures: the direct-connection handshake, SIP, the
// network-detection echo probe and STUN/TURN (hosts-and-signatures §3.3-§3.6).

// msncHandshake is the MSNC direct-connection opening: a 4-byte little-endian
// length 4 followed by "foo\0".
const msncHandshake = "\x04\x00\x00\x00foo\x00"

// DirectHandshake recognises the MSNC direct-connection handshake that opens
// a Messenger peer-to-peer TCP connection (file transfer, webcam, … on TCP
// 1025-65535; §3.3, nDPI msn.c): the bytes 04 00 00 00 66 6f 6f 00. NeedMore
// for a proper prefix of them.
func DirectHandshake(b []byte) Result {
	return prefixState(b, msncHandshake)
}

// MaxSIPLine bounds the SIP start line: SIP waits for its line end this long.
const MaxSIPLine = 2048

// sipMethods are the request methods SIP accepts (RFC 3261, 3265, 3428, 6086,
// and SERVICE as used by Microsoft's SIP stack).
var sipMethods = [...]string{"INVITE", "REGISTER", "OPTIONS", "ACK", "BYE", "CANCEL",
	"SUBSCRIBE", "NOTIFY", "MESSAGE", "INFO", "SERVICE"}

// SIP recognises the start line of a SIP message (RFC 3261 §7.1; Windows Live
// Call and legacy voice signalling, §3.5): a request line
// "METHOD sip:…|sips:… SIP/2.0" for INVITE, REGISTER, OPTIONS, ACK, BYE,
// CANCEL, SUBSCRIBE, NOTIFY, MESSAGE, INFO or SERVICE, or a status line
// "SIP/2.0 NNN …", ending in CRLF (or LF). NeedMore while the line may still
// complete within MaxSIPLine bytes.
func SIP(b []byte) Result {
	more := NeedMore
	if len(b) >= MaxSIPLine {
		b = b[:MaxSIPLine]
		more = NoMatch
	}
	if len(b) == 0 {
		return more
	}
	if b[0] == 'S' && len(b) >= 2 && b[1] == 'I' {
		// status line "SIP/2.0 NNN" (SUBSCRIBE and SERVICE also start with S, but
		// not "SI")
		r := prefixState(b, "SIP/2.0 ")
		if r != Match {
			if r == NeedMore {
				return more
			}
			return r
		}
		k := len("SIP/2.0 ")
		for i := 0; i < 3; i++ {
			if k == len(b) {
				return more
			}
			if !isDigit(b[k]) {
				return NoMatch
			}
			k++
		}
		if b[k-3] == '0' {
			return NoMatch
		}
		if k == len(b) {
			return more
		}
		if b[k] != ' ' && b[k] != '\r' && b[k] != '\n' {
			return NoMatch
		}
		return Match
	}
	// request line
	i := 0
	for i < len(b) && isUpper(b[i]) {
		i++
	}
	method := b[:i]
	known, prefix := false, false
	for _, m := range sipMethods {
		if string(method) == m {
			known = true
		}
		if len(method) < len(m) && string(method) == m[:len(method)] {
			prefix = true
		}
	}
	if i == len(b) {
		if prefix || known {
			return more
		}
		return NoMatch
	}
	if !known || b[i] != ' ' {
		return NoMatch
	}
	k := i + 1
	// Request-URI: sip: or sips:
	uri := b[k:]
	if len(uri) < 5 {
		if prefixFoldState(uri, "sip:") == NoMatch && prefixFoldState(uri, "sips:") == NoMatch {
			return NoMatch
		}
		return more
	}
	if !hasPrefixFold(uri, "sip:") && !hasPrefixFold(uri, "sips:") {
		return NoMatch
	}
	for k < len(b) && b[k] > ' ' && b[k] != 0x7f {
		k++
	}
	if k == len(b) {
		return more
	}
	if b[k] != ' ' {
		return NoMatch
	}
	_, r := versionLineEnd(b, k+1, "SIP/2.")
	if r == NeedMore {
		return more
	}
	return r
}

// prefixFoldState is prefixState ignoring ASCII case.
func prefixFoldState(b []byte, s string) Result {
	n := len(b)
	if n > len(s) {
		n = len(s)
	}
	if !equalFold(b[:n], s[:n]) {
		return NoMatch
	}
	if n < len(s) {
		return NeedMore
	}
	return Match
}

// EchoProbeLen is the size of a network-detection echo probe.
const EchoProbeLen = 20

// EchoProbe recognises Messenger's network-detection (NAT type) probe to
// echo.edge.messenger.live.com UDP 7001 and the server's reply (§3.4, Miranda
// msn_natdetect.cpp UDPProbePkt): exactly 20 bytes, version byte 2, service
// code 1 (echo), 2, 3 (test through the second server) or 4 (my IP). A shorter
// input that starts like one gives NeedMore; a longer one is NoMatch. The
// probe has no further invariant, so only use this on flows to port 7001.
func EchoProbe(b []byte) Result {
	if len(b) > EchoProbeLen {
		return NoMatch
	}
	if len(b) >= 1 && b[0] != 2 {
		return NoMatch
	}
	if len(b) >= 2 && (b[1] < 1 || b[1] > 4) {
		return NoMatch
	}
	if len(b) < EchoProbeLen {
		return NeedMore
	}
	return Match
}

const (
	stunHeaderLen   = 20
	stunMagicCookie = 0x2112A442
	// msTURNCookie is the value of the old TURN MAGIC-COOKIE attribute (type
	// 0x000F) that MS-TURN puts first.
	msTURNCookie = 0x72C64BC6
)

// TURN recognises a STUN/TURN message (§3.5): a 20-byte header whose first two
// bits are zero and whose length field fits in b (20+length <= len(b); a
// datagram normally holds exactly one message, a TCP stream may hold more), in
// one of these layouts:
//   - RFC 5389 STUN/TURN: magic cookie 0x2112A442 at offset 4, length a
//     multiple of 4, and attributes (4-byte padded) that fill the length
//     exactly;
//   - the old TURN used by Messenger's relay (relay.voice.messenger.msn.com,
//     papyon turn.py): Shared Secret request 0x0002, response 0x0102 or error
//     0x0112, with at least one attribute, attributes filling the length
//     exactly (papyon does not pad them, so unpadded walks are accepted too);
//   - MS-TURN: any message type whose first attribute is MAGIC-COOKIE
//     (0x000F, length 4, value 0x72C64BC6).
//
// NeedMore when b is shorter than the header or than the length field says
// and what is there is consistent.
func TURN(b []byte) Result {
	if len(b) >= 1 && b[0]&0xc0 != 0 {
		return NoMatch
	}
	if len(b) < stunHeaderLen {
		if len(b) >= 8 && be32(b[4:]) == stunMagicCookie && be16(b[2:])%4 != 0 {
			return NoMatch
		}
		return NeedMore
	}
	typ, l := be16(b), be16(b[2:])
	cookie := be32(b[4:])
	if cookie == stunMagicCookie {
		if l%4 != 0 {
			return NoMatch
		}
		if stunHeaderLen+l > len(b) {
			return NeedMore
		}
		if !stunAttrsFit(b[stunHeaderLen:stunHeaderLen+l], true) {
			return NoMatch
		}
		return Match
	}
	legacy := typ == 0x0002 || typ == 0x0102 || typ == 0x0112
	if stunHeaderLen+l > len(b) {
		if legacy || l >= 8 && (stunHeaderLen+8 > len(b) || msTURNFirst(b)) {
			return NeedMore
		}
		return NoMatch
	}
	a := b[stunHeaderLen : stunHeaderLen+l]
	if !stunAttrsFit(a, true) && !stunAttrsFit(a, false) {
		return NoMatch
	}
	if legacy && l >= 4 || msTURNFirst(b) {
		return Match
	}
	return NoMatch
}

// msTURNFirst reports whether the first attribute of the message is the
// MS-TURN MAGIC-COOKIE attribute (inside the length the header declares).
func msTURNFirst(b []byte) bool {
	return len(b) >= stunHeaderLen+8 && be16(b[2:]) >= 8 &&
		be16(b[20:]) == 0x000F && be16(b[22:]) == 4 && be32(b[24:]) == msTURNCookie
}

// stunAttrsFit reports whether a consists exactly of type-length-value
// attributes, each value padded to 4 bytes when pad is set.
func stunAttrsFit(a []byte, pad bool) bool {
	for len(a) > 0 {
		if len(a) < 4 {
			return false
		}
		n := be16(a[2:])
		if pad {
			n = (n + 3) &^ 3
		}
		if 4+n > len(a) {
			return false
		}
		a = a[4+n:]
	}
	return true
}
