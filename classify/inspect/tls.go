package inspect

// TLS ClientHello server_name (RFC 8446 §4.1.2, RFC 6066 §3).
//
// The ClientHello is read as a logical handshake byte stream assembled from
// consecutive TLS records of content type 22, so a ClientHello fragmented over
// several records (and, by the caller's concatenation, over several TCP
// segments) is handled without copying; only a host name that is itself split
// by a record boundary has to be copied, into the caller's buffer given to
// ClientHelloSNIInto.

const (
	recordHeaderLen = 5
	// maxRecordLen is the largest TLSCiphertext fragment (2^14 + 2048).
	maxRecordLen = 1<<14 + 2048
	// maxClientHello bounds the handshake length accepted as plausible.
	maxClientHello = 1 << 16
	// minClientHello is version(2) + random(32) + session_id length(1) +
	// cipher_suites length(2) + one suite(2) + compression length(1) + one method(1).
	minClientHello = 41
)

// SNIBufLen is the size of the buffer ClientHelloSNIInto copies a
// record-split host name into; longer split names are not returned.
const SNIBufLen = 256

// TLSRecordStart reports whether b begins with a plausible TLS handshake record
// header: content type handshake (0x16), protocol version 3.0 to 3.4
// (0x03 0x00..0x04). It needs at least three bytes.
func TLSRecordStart(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

// ClientHelloSNI reads the TLS ClientHello at the start of b, the client's
// bytes of a TCP connection from its first byte (possibly several TLS records:
// handshake messages fragmented across records of type 22 are followed), and
// returns the first host_name of its server_name extension as a sub-slice of b.
//
// Results:
//   - NoMatch when the first record is not handshake(22) with version 3.x
//     (x <= 4), a later record of the ClientHello is not a handshake record, the
//     handshake type is not ClientHello(1), or any length field is inconsistent
//     (including lying extension, server_name list or name lengths);
//   - NeedMore when b ends before the ClientHello (or its server_name) is
//     complete;
//   - Match with the name once the server_name extension has been read and
//     validated (the rest of the ClientHello is not waited for), or Match with a
//     nil name when a complete ClientHello carries no server_name.
//
// If the host name itself straddles a record boundary (as DPI-evasion tools
// that split records inside the SNI do) it cannot be returned as a sub-slice:
// ClientHelloSNI then reports Match with a nil name; use ClientHelloSNIInto to
// get it copied into a caller buffer.
func ClientHelloSNI(b []byte) (sni []byte, r Result) {
	return clientHelloSNI(b, nil)
}

// ClientHelloSNIInto is ClientHelloSNI, except that a host name split across
// TLS records is copied into buf (when it fits) and returned from there. Names
// that lie in one record are still returned as sub-slices of b.
func ClientHelloSNIInto(b []byte, buf *[SNIBufLen]byte) (sni []byte, r Result) {
	if buf == nil {
		return clientHelloSNI(b, nil)
	}
	return clientHelloSNI(b, buf[:])
}

// hsReader reads the payload of consecutive handshake records as one stream.
type hsReader struct {
	b      []byte
	pos    int  // next unread byte of b
	recEnd int  // end of the current record's fragment in b; may exceed len(b)
	short  bool // b ended
	bad    bool // record framing is not a TLS handshake stream
}

// recordPrefixOK reports whether p (shorter than a record header) can start a
// handshake record header.
func recordPrefixOK(p []byte) bool {
	if len(p) > 0 && p[0] != 0x16 {
		return false
	}
	if len(p) > 1 && p[1] != 0x03 {
		return false
	}
	if len(p) > 2 && p[2] > 0x04 {
		return false
	}
	return true
}

// avail returns how many bytes can be read without crossing a record boundary,
// entering the next record when the current one is used up. Zero means the
// input ended (short) or the framing is invalid (bad).
func (r *hsReader) avail() int {
	for r.pos >= r.recEnd {
		if r.bad || r.short {
			return 0
		}
		if len(r.b)-r.pos < recordHeaderLen {
			if recordPrefixOK(r.b[r.pos:]) {
				r.short = true
			} else {
				r.bad = true
			}
			return 0
		}
		h := r.b[r.pos : r.pos+recordHeaderLen]
		if h[0] != 0x16 || h[1] != 0x03 || h[2] > 0x04 {
			r.bad = true
			return 0
		}
		n := be16(h[3:])
		if n > maxRecordLen {
			r.bad = true
			return 0
		}
		r.pos += recordHeaderLen
		r.recEnd = r.pos + n
	}
	end := r.recEnd
	if end > len(r.b) {
		end = len(r.b)
	}
	if r.pos >= end {
		r.short = true
		return 0
	}
	return end - r.pos
}

func (r *hsReader) u8() (int, bool) {
	if r.avail() == 0 {
		return 0, false
	}
	c := r.b[r.pos]
	r.pos++
	return int(c), true
}

// uint reads an n-byte (n <= 3) big-endian integer.
func (r *hsReader) uint(n int) (int, bool) {
	v := 0
	for i := 0; i < n; i++ {
		c, ok := r.u8()
		if !ok {
			return 0, false
		}
		v = v<<8 | c
	}
	return v, true
}

func (r *hsReader) skip(n int) bool {
	for n > 0 {
		a := r.avail()
		if a == 0 {
			return false
		}
		if a > n {
			a = n
		}
		r.pos += a
		n -= a
	}
	return true
}

// bytes reads n bytes. When they lie within one record it returns a sub-slice
// of the input; when they span records it copies them into buf if they fit
// (else skips them and returns nil).
func (r *hsReader) bytes(n int, buf []byte) ([]byte, bool) {
	a := r.avail()
	if a == 0 {
		return nil, false
	}
	if a >= n {
		p := r.b[r.pos : r.pos+n : r.pos+n]
		r.pos += n
		return p, true
	}
	if n > len(buf) {
		return nil, r.skip(n)
	}
	got := 0
	for got < n {
		a := r.avail()
		if a == 0 {
			return nil, false
		}
		if a > n-got {
			a = n - got
		}
		copy(buf[got:], r.b[r.pos:r.pos+a])
		r.pos += a
		got += a
	}
	return buf[:n:n], true
}

// fail turns a failed read into NeedMore (input ended) or NoMatch.
func (r *hsReader) fail() ([]byte, Result) {
	if r.bad {
		return nil, NoMatch
	}
	return nil, NeedMore
}

func clientHelloSNI(b []byte, buf []byte) ([]byte, Result) {
	r := hsReader{b: b}
	if len(b) == 0 {
		return nil, NeedMore
	}
	typ, ok := r.u8()
	if !ok {
		return r.fail()
	}
	if typ != 1 { // client_hello
		return nil, NoMatch
	}
	rem, ok := r.uint(3)
	if !ok {
		return r.fail()
	}
	if rem < minClientHello || rem > maxClientHello {
		return nil, NoMatch
	}
	// legacy_version
	ver, ok := r.uint(2)
	if !ok {
		return r.fail()
	}
	if ver>>8 != 3 {
		return nil, NoMatch
	}
	rem -= 2
	// random
	if !r.skip(32) {
		return r.fail()
	}
	rem -= 32
	// legacy_session_id<0..32>
	n, ok := r.u8()
	if !ok {
		return r.fail()
	}
	rem--
	if n > 32 || n > rem {
		return nil, NoMatch
	}
	if !r.skip(n) {
		return r.fail()
	}
	rem -= n
	// cipher_suites<2..2^16-2>
	if rem < 2 {
		return nil, NoMatch
	}
	if n, ok = r.uint(2); !ok {
		return r.fail()
	}
	rem -= 2
	if n < 2 || n%2 != 0 || n > rem {
		return nil, NoMatch
	}
	if !r.skip(n) {
		return r.fail()
	}
	rem -= n
	// legacy_compression_methods<1..2^8-1>
	if rem < 1 {
		return nil, NoMatch
	}
	if n, ok = r.u8(); !ok {
		return r.fail()
	}
	rem--
	if n < 1 || n > rem {
		return nil, NoMatch
	}
	if !r.skip(n) {
		return r.fail()
	}
	rem -= n
	if rem == 0 { // no extensions (SSL 3.0 style)
		return nil, Match
	}
	// extensions<8..2^16-1>: must fill the rest of the message exactly.
	if rem < 2 {
		return nil, NoMatch
	}
	if n, ok = r.uint(2); !ok {
		return r.fail()
	}
	rem -= 2
	if n != rem {
		return nil, NoMatch
	}
	for rem > 0 {
		if rem < 4 {
			return nil, NoMatch
		}
		et, ok := r.uint(2)
		if !ok {
			return r.fail()
		}
		el, ok := r.uint(2)
		if !ok {
			return r.fail()
		}
		rem -= 4
		if el > rem {
			return nil, NoMatch
		}
		rem -= el
		if et != 0 { // not server_name
			if !r.skip(el) {
				return r.fail()
			}
			continue
		}
		// ServerNameList: server_name_list<1..2^16-1>, filling the extension.
		if el < 2 {
			return nil, NoMatch
		}
		ll, ok := r.uint(2)
		if !ok {
			return r.fail()
		}
		if ll != el-2 || ll == 0 {
			return nil, NoMatch
		}
		var name []byte
		found := false
		for ll > 0 {
			if ll < 3 {
				return nil, NoMatch
			}
			nt, ok := r.u8()
			if !ok {
				return r.fail()
			}
			nl, ok := r.uint(2)
			if !ok {
				return r.fail()
			}
			ll -= 3
			if nl > ll {
				return nil, NoMatch
			}
			ll -= nl
			if nt == 0 && !found { // host_name
				if nl == 0 {
					return nil, NoMatch
				}
				name, ok = r.bytes(nl, buf)
				if !ok {
					return r.fail()
				}
				found = true
				continue
			}
			if !r.skip(nl) {
				return r.fail()
			}
		}
		if found {
			return name, Match
		}
	}
	return nil, Match
}
