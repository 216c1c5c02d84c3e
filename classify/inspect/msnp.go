package inspect

import (
	"bytes"
	"net/netip"
)

// MSNP, the Messenger notification/switchboard protocol on TCP 1863
// (hosts-and-signatures §3.1, with the nDPI rules of §3.6): CRLF-terminated
// ASCII command lines "CMD TrID args".

// MaxMSNPLine bounds the first MSNP command line: its CRLF must end within
// this many bytes.
const MaxMSNPLine = 1024

// MSNPCommand recognises the first line of one direction of an MSNP
// connection. The line is three upper-case letters, a space, arguments, and a
// CRLF within MaxMSNPLine bytes, with no other control bytes. It is a Match
// only for commands that identify Messenger:
//
// client side
//   - VER <trid> … MSNP<digits> … (or … CVR0): "VER 1 MSNP18 CVR0"
//   - VER MSNFTP (legacy MSNFTP file transfer, §3.3), also "VER <trid> MSNFTP"
//   - CVR <trid> <at least four arguments>: "CVR 2 0x0409 winnt 6.0 i386 MSNMSGR 14.0.8089.0726 msmsgs a@b"
//   - USR <trid> SSO|TWN|MD5 …, or USR <trid> <handle containing @> <cookie> (switchboard)
//   - ANS <trid> <handle containing @> <ticket> <sessid>
//
// server side
//   - VER <trid> MSNP<digits> …, CVR <trid> …, USR <trid> OK …
//   - XFR <trid> NS|SB …, RNG <sessid> <addr> CKI …
//   - GCF <trid> … <length>, MSG Hotmail Hotmail <length>, SBS <trid> …, CHL <trid> <challenge>
//
// cmd holds the three letters whenever b starts with them (also with NoMatch).
// NeedMore while b has no CRLF yet, is shorter than MaxMSNPLine and is a valid
// line prefix; NoMatch otherwise when the line is not one of the above.
func MSNPCommand(b []byte) (cmd [3]byte, r Result) {
	for i := 0; i < len(b) && i < 3; i++ {
		if !isUpper(b[i]) {
			return [3]byte{}, NoMatch
		}
		cmd[i] = b[i]
	}
	if len(b) < 4 {
		if len(b) < 3 {
			cmd = [3]byte{}
		}
		return cmd, NeedMore
	}
	if b[3] != ' ' {
		return cmd, NoMatch
	}
	n := len(b)
	if n > MaxMSNPLine {
		n = MaxMSNPLine
	}
	end := -1
	for i := 4; i < n; i++ {
		c := b[i]
		if c == '\r' {
			if i+1 == n {
				break
			}
			if b[i+1] != '\n' {
				return cmd, NoMatch
			}
			end = i
			break
		}
		if c < 0x20 || c == 0x7f {
			return cmd, NoMatch
		}
	}
	if end < 0 {
		if len(b) < MaxMSNPLine {
			return cmd, NeedMore
		}
		return cmd, NoMatch
	}
	var tok [maxFields][]byte
	nt := fields(b[:end], &tok)
	if msnpIdentifies(cmd, tok[:nt]) {
		return cmd, Match
	}
	return cmd, NoMatch
}

// isTrID reports whether t is an MSNP transaction id (1-10 digits).
func isTrID(t []byte) bool { return len(t) <= 10 && allDigits(t) }

// isMSNPVersion reports whether t is "MSNP" followed by 1-3 digits.
func isMSNPVersion(t []byte) bool {
	return len(t) >= 5 && len(t) <= 7 && string(t[:4]) == "MSNP" && allDigits(t[4:])
}

func hasAt(t []byte) bool { return bytes.IndexByte(t, '@') > 0 }

func msnpIdentifies(cmd [3]byte, tok [][]byte) bool {
	nt := len(tok)
	if nt < 2 {
		return false
	}
	trid := isTrID(tok[1])
	switch string(cmd[:]) {
	case "VER":
		if string(tok[1]) == "MSNFTP" {
			return true
		}
		if !trid {
			return false
		}
		for _, t := range tok[2:] {
			if isMSNPVersion(t) || string(t) == "CVR0" || string(t) == "MSNFTP" {
				return true
			}
		}
	case "CVR":
		return trid && nt >= 6
	case "USR":
		if !trid || nt < 4 {
			return false
		}
		switch string(tok[2]) {
		case "SSO", "TWN", "MD5", "OK":
			return true
		}
		return nt == 4 && hasAt(tok[2])
	case "ANS":
		return trid && nt >= 5 && hasAt(tok[2])
	case "XFR":
		return trid && nt >= 3 && (string(tok[2]) == "NS" || string(tok[2]) == "SB")
	case "RNG":
		return trid && nt >= 5 && string(tok[3]) == "CKI"
	case "GCF":
		return trid && nt >= 3 && allDigits(tok[nt-1])
	case "MSG":
		return nt == 4 && string(tok[1]) == "Hotmail" && string(tok[2]) == "Hotmail" && allDigits(tok[3])
	case "SBS":
		return trid && nt >= 3
	case "CHL":
		return trid && nt == 3
	}
	return false
}

// Redirect is a server address an MSNP server sent the client to: a
// notification server (XFR … NS), a switchboard (XFR … SB), or a switchboard
// the client is invited to (RNG).
type Redirect struct {
	Kind byte           // 'N' for a notification server, 'S' for a switchboard
	Addr netip.AddrPort // the address:port in the command; with Host, only the port
	Host []byte         // a host name where the command names one instead of an address (revival servers do), aliasing the input
	Ring bool           // the redirect came from RNG (an invitation to a switchboard)
}

// maxMSNPPayload bounds the payload length ScanRedirects skips after a payload
// command.
const maxMSNPPayload = 1 << 20

// ScanRedirects scans the complete (LF-terminated) MSNP command lines of b, a
// server's byte stream, for redirects, fills out with up to len(out) of them in
// order and returns how many it stored:
//
//	XFR <trid> NS <addr>:<port> …            → Kind 'N'   ("XFR 3 NS 64.4.44.39:1863 U D")
//	XFR <trid> SB <addr>:<port> CKI …        → Kind 'S'   ("XFR 15 SB 207.46.108.37:1863 CKI 17262740.1050826919.32308")
//	RNG <sessid> <addr>:<port> CKI …         → Kind 'S', Ring
//
// Addresses are IPv4 "a.b.c.d:port" or "[v6]:port"; redirects naming a host
// name are skipped. The payload of a payload-carrying command (MSG, GCF, NOT,
// UBX, ADL, … whose last argument is a byte count) is skipped, so message text
// that looks like a command is not read as one.
func ScanRedirects(b []byte, out []Redirect) int {
	n, pos := 0, 0
	var tok [maxFields][]byte
	for pos < len(b) && n < len(out) {
		nl := bytes.IndexByte(b[pos:], '\n')
		if nl < 0 {
			break
		}
		line := b[pos : pos+nl]
		pos += nl + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		nt := fields(line, &tok)
		if nt < 2 || len(tok[0]) != 3 {
			continue
		}
		switch string(tok[0]) {
		case "XFR":
			if nt < 4 || !isTrID(tok[1]) {
				continue
			}
			var kind byte
			switch string(tok[2]) {
			case "NS":
				kind = 'N'
			case "SB":
				if nt < 5 || string(tok[4]) != "CKI" {
					continue
				}
				kind = 'S'
			default:
				continue
			}
			if r, ok := redirectTo(tok[3]); ok {
				r.Kind = kind
				out[n] = r
				n++
			}
		case "RNG":
			if nt < 4 || !isTrID(tok[1]) || string(tok[3]) != "CKI" {
				continue
			}
			if r, ok := redirectTo(tok[2]); ok {
				r.Kind, r.Ring = 'S', true
				out[n] = r
				n++
			}
		case "MSG", "GCF", "NOT", "UBX", "UUX", "ADL", "RML", "UUN", "UBN", "FQY", "QRY",
			"SDG", "NFY", "PUT", "DEL", "UUM", "UBM", "IPG", "SDC", "PAG":
			if size, ok := parseUint(tok[nt-1], 7); ok {
				if size > maxMSNPPayload || int(size) > len(b)-pos {
					return n
				}
				pos += int(size)
			}
		}
	}
	return n
}

// redirectTo reads a redirect's target: address:port, or host:port.
func redirectTo(b []byte) (Redirect, bool) {
	if ap, ok := parseAddrPort(b); ok {
		return Redirect{Addr: ap}, true
	}
	c := bytes.LastIndexByte(b, ':')
	if c < 0 || !isHostName(b[:c]) {
		return Redirect{}, false
	}
	p, ok := parsePort(b[c+1:])
	if !ok || p == 0 {
		return Redirect{}, false
	}
	return Redirect{Addr: netip.AddrPortFrom(netip.Addr{}, p), Host: b[:c]}, true
}

// isHostName reports whether b is a DNS host name: dot-separated labels of
// 1-63 letters, digits and hyphens, not starting or ending with a hyphen,
// 253 characters at most, with a letter somewhere (not an address).
func isHostName(b []byte) bool {
	if len(b) == 0 || len(b) > 253 {
		return false
	}
	letter, label := false, 0
	for i, c := range b {
		switch {
		case c == '.':
			if label == 0 || b[i-1] == '-' {
				return false
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return false
			}
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return letter && label > 0 && b[len(b)-1] != '-'
}
