// Package inspect holds msnaudit's payload inspectors: pure functions over the
// first bytes of one direction of a flow (or over one datagram) that recognise
// the protocols KB 960820 depends on and pull out the names and endpoints the
// classifier needs.
//
// Every inspector is written for untrusted input and obeys the same contract:
//
//   - it never panics, whatever the bytes;
//   - it does not allocate: results are sub-slices of the input or are written
//     into caller-provided fixed-size structs;
//   - its work is linear in the input (or bounded by a small constant such as
//     MaxHead or the DNS pointer-hop limit);
//   - it never prints, logs or exits.
//
// Byte-stream inspectors return a Result: NeedMore while more bytes of the same
// direction could still turn the input into a match, NoMatch once the bytes
// rule the protocol out, and Match. Callers feed the in-order bytes of one
// direction from its first byte, growing the slice as segments arrive, and stop
// at the first Match or NoMatch (or when their own byte budget is spent).
//
// The signatures and their sources are collected in the project's reference
// notes, hosts-and-signatures.md section 3 (next to the KB 960820 article
// text); each inspector's doc comment cites the subsection (§3.x) it follows.
package inspect

import (
	"bytes"
	"net/netip"
)

// Result is the verdict of a byte-stream inspector.
type Result uint8

const (
	// NeedMore means the bytes seen so far are a valid prefix of the protocol:
	// more bytes of this direction could still produce a Match.
	NeedMore Result = iota
	// NoMatch means the bytes seen so far rule the protocol out.
	NoMatch
	// Match means the bytes are the protocol; any values returned alongside are
	// valid.
	Match
)

// String returns "need_more", "no_match" or "match".
func (r Result) String() string {
	switch r {
	case NeedMore:
		return "need_more"
	case NoMatch:
		return "no_match"
	case Match:
		return "match"
	}
	return "result(invalid)"
}

// ---- small byte helpers shared by the inspectors (none allocates) ----

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// equalFoldBytes reports whether a equals b, ignoring ASCII case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether b starts with s, ignoring ASCII case.
func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

// prefixState compares b with the literal s from the start: it returns Match
// when b starts with s, NeedMore when b is a proper prefix of s, else NoMatch.
func prefixState(b []byte, s string) Result {
	n := len(b)
	if n > len(s) {
		n = len(s)
	}
	if string(b[:n]) != s[:n] {
		return NoMatch
	}
	if n < len(s) {
		return NeedMore
	}
	return Match
}

// indexFoldSlash returns the index of the first occurrence of pat (which must
// be lower case and start with '/') in b, ignoring ASCII case, or -1. Only
// positions holding '/' are tried, and the first bytes compared decide quickly.
func indexFoldSlash(b []byte, pat string) int {
	for i := 0; i+len(pat) <= len(b); {
		j := bytes.IndexByte(b[i:len(b)-len(pat)+1], '/')
		if j < 0 {
			return -1
		}
		i += j
		if equalFold(b[i:i+len(pat)], pat) {
			return i
		}
		i++
	}
	return -1
}

func isSpaceTab(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS trims spaces, tabs and carriage returns from both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (isSpaceTab(b[0]) || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (isSpaceTab(b[len(b)-1]) || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// allDigits reports whether b is non-empty and all ASCII digits.
func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// parseUint parses 1..maxDigits decimal digits.
func parseUint(b []byte, maxDigits int) (uint64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// parsePort parses a decimal port 0..65535.
func parsePort(b []byte) (uint16, bool) {
	v, ok := parseUint(b, 5)
	if !ok || v > 65535 {
		return 0, false
	}
	return uint16(v), true
}

func be16(b []byte) int { return int(b[0])<<8 | int(b[1]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// parseIPv4 parses dotted-quad IPv4 text (1-3 digits per octet, each <= 255,
// no leading zeros), as netip.ParseAddr does.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	i := 0
	for k := 0; k < 4; k++ {
		if k > 0 {
			if i >= len(b) || b[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		v, n, start := 0, 0, i
		for i < len(b) && isDigit(b[i]) && n < 4 {
			v = v*10 + int(b[i]-'0')
			i++
			n++
		}
		if n == 0 || n > 3 || v > 255 || n > 1 && b[start] == '0' {
			return netip.Addr{}, false
		}
		a[k] = byte(v)
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(a), true
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseIPv6 parses RFC 4291 text (with "::" and an optional dotted IPv4 tail;
// zones are not accepted).
func parseIPv6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1
	i := 0
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	for i < 16 {
		off, acc := 0, 0
		for off < len(s) && off < 5 {
			h := hexVal(s[off])
			if h < 0 {
				break
			}
			acc = acc<<4 | h
			off++
		}
		if off < len(s) && s[off] == '.' {
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return netip.Addr{}, false
			}
			a4 := v4.As4()
			copy(ip[i:], a4[:])
			i += 4
			s = s[len(s):]
			break
		}
		if off == 0 || off > 4 {
			return netip.Addr{}, false
		}
		ip[i] = byte(acc >> 8)
		ip[i+1] = byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		for j := ellipsis; j < ellipsis+n; j++ {
			ip[j] = 0
		}
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

// parseAddr parses IPv4 or IPv6 text.
func parseAddr(b []byte) (netip.Addr, bool) {
	if bytes.IndexByte(b, ':') >= 0 {
		return parseIPv6(b)
	}
	return parseIPv4(b)
}

// parseAddrPort parses "a.b.c.d:port" or "[v6]:port".
func parseAddrPort(b []byte) (netip.AddrPort, bool) {
	var host, port []byte
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || end+1 >= len(b) || b[end+1] != ':' {
			return netip.AddrPort{}, false
		}
		host, port = b[1:end], b[end+2:]
		a, ok := parseIPv6(host)
		if !ok {
			return netip.AddrPort{}, false
		}
		p, ok := parsePort(port)
		if !ok {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(a, p), true
	}
	c := bytes.LastIndexByte(b, ':')
	if c < 0 {
		return netip.AddrPort{}, false
	}
	host, port = b[:c], b[c+1:]
	a, ok := parseIPv4(host)
	if !ok {
		return netip.AddrPort{}, false
	}
	p, ok := parsePort(port)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, p), true
}

// nextField returns the next space-separated token of b starting at *pos,
// skipping runs of spaces, and advances *pos; it returns nil at the end.
func nextField(b []byte, pos *int) []byte {
	i := *pos
	for i < len(b) && b[i] == ' ' {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' {
		j++
	}
	*pos = j
	if i == j {
		return nil
	}
	return b[i:j]
}

// maxFields is the number of tokens fields keeps.
const maxFields = 12

// fields splits b on spaces into at most maxFields tokens and returns how many
// it stored; tokens past maxFields are dropped.
func fields(b []byte, out *[maxFields][]byte) int {
	n, pos := 0, 0
	for n < maxFields {
		t := nextField(b, &pos)
		if t == nil {
			break
		}
		out[n] = t
		n++
	}
	return n
}
