package inspect

// Fuzz targets, one per inspector. Besides "never panics", each checks
// properties that must hold for any input: results are sub-slices of the
// input, counts stay within their arrays, and the byte-stream inspectors are
// prefix-consistent (a NoMatch or Match on a prefix is final: more bytes of the
// same direction never change it).

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func validResult(r Result) bool { return r == NeedMore || r == NoMatch || r == Match }

// cuts returns a few prefix lengths of n to test prefix consistency with.
func cuts(n int) []int {
	return []int{0, n / 3, n / 2, 2 * n / 3, n - 1}
}

func FuzzClientHelloSNI(f *testing.F) {
	hello := win7ClientHello("login.live.com")
	hs := hello[5:]
	f.Add(hello)
	f.Add(goClientHello(f))
	f.Add(xpClientHello())
	f.Add(records(0x0301, hs, 60))
	f.Add(records(0x0301, hs, 95, 100))
	f.Add(records(0x0303, buildClientHello(0x0303, []uint16{0x1301}, []tlsExt{sniExt("a.b", "c.d"), {0x0017, nil}})))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x30})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf [SNIBufLen]byte
		sni, r := ClientHelloSNI(b)
		if !validResult(r) || sni != nil && (r != Match || !within(sni, b)) {
			t.Fatalf("ClientHelloSNI = %q, %v", sni, r)
		}
		sni2, r2 := ClientHelloSNIInto(b, &buf)
		if r2 != r || sni != nil && !bytes.Equal(sni, sni2) {
			t.Fatalf("Into = %q, %v; plain = %q, %v", sni2, r2, sni, r)
		}
		if sni2 != nil && !within(sni2, b) && !within(sni2, buf[:]) {
			t.Fatal("Into result outside input and buffer")
		}
		if TLSRecordStart(b) != (len(b) >= 3 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4) {
			t.Fatal("TLSRecordStart")
		}
		if len(b) > 0 && r != NoMatch && b[0] != 0x16 {
			t.Fatalf("%v for first byte %#x", r, b[0])
		}
		for _, k := range cuts(len(b)) {
			if k < 0 || k >= len(b) {
				continue
			}
			var pbuf [SNIBufLen]byte
			ps, pr := ClientHelloSNIInto(b[:k], &pbuf)
			if pr == NoMatch && r2 != NoMatch || pr == Match && (r2 != Match || !bytes.Equal(ps, sni2)) {
				t.Fatalf("prefix %d: %q, %v; full: %q, %v", k, ps, pr, sni2, r2)
			}
		}
	})
}

func checkRequest(t *testing.T, b []byte, req *Request) {
	for _, f := range [][]byte{req.Method, req.Target, req.Host, req.ContentType, req.UserAgent} {
		if f != nil && !within(f, b) {
			t.Fatalf("field %q not within input", f)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{gatewayOpen, gatewayPoll, connectReq, soapReq,
		"GET / HTTP/1.0\n\n", "GET /x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "M-SEARCH * HTTP/1.1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req, preq Request
		r := ParseRequest(b, &req)
		if !validResult(r) {
			t.Fatal(r)
		}
		checkRequest(t, b, &req)
		if r == Match && (len(req.Method) == 0 || len(req.Target) == 0) {
			t.Fatalf("Match without request line: %+v", req)
		}
		g := IsGateway(&req)
		_ = g
		if h := HostOnly(req.Host); h != nil && !within(h, b) {
			t.Fatal("HostOnly not within")
		}
		if a := TargetAuthority(req.Target); a != nil && !within(a, b) {
			t.Fatal("TargetAuthority not within")
		}
		for _, k := range cuts(len(b)) {
			if k < 0 || k >= len(b) {
				continue
			}
			pr := ParseRequest(b[:k], &preq)
			if pr == NoMatch && r != NoMatch {
				t.Fatalf("prefix %d NoMatch, full %v", k, r)
			}
			if pr == Match && (r != Match || !bytes.Equal(preq.Method, req.Method) || !bytes.Equal(preq.Target, req.Target) ||
				!bytes.Equal(preq.Host, req.Host) || !bytes.Equal(preq.ContentType, req.ContentType) || !bytes.Equal(preq.UserAgent, req.UserAgent)) {
				t.Fatalf("prefix %d Match %+v, full %v %+v", k, preq, r, req)
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{gatewayResp, proxy407, "HTTP/1.0 403 Forbidden\n\n", "HTTP/1.1 451\r\n\r\n", sipOK} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp, presp Response
		r := ParseResponse(b, &resp)
		if !validResult(r) {
			t.Fatal(r)
		}
		if r == Match && (resp.Status < 100 || resp.Status > 999) {
			t.Fatalf("status %d", resp.Status)
		}
		if resp.ContentType != nil && !within(resp.ContentType, b) {
			t.Fatal("content type not within")
		}
		for _, k := range cuts(len(b)) {
			if k < 0 || k >= len(b) {
				continue
			}
			pr := ParseResponse(b[:k], &presp)
			if pr == NoMatch && r != NoMatch || pr == Match && (r != Match || presp.Status != resp.Status ||
				!bytes.Equal(presp.ContentType, resp.ContentType) || presp.XMSNMessenger != resp.XMSNMessenger ||
				presp.ProxyAuthenticate != resp.ProxyAuthenticate) {
				t.Fatalf("prefix %d: %v %+v; full %v %+v", k, pr, presp, r, resp)
			}
		}
	})
}

// refDNS is an independent, allocating reference for ParseDNS: names are
// decoded to strings and compared as strings; the answer walk has the same
// pass structure (so it agrees within ParseDNS's bounds).
type refDNS struct {
	qname  string
	addrs  []netip.Addr
	nAns   int
	cnames int
	err    bool
}

// refName decodes the name at off into its dotted form and a comparison key
// (length-prefixed, ASCII-lower-cased labels).
func refName(msg []byte, off int) (name, key string, end int, ok bool) {
	var labels []string
	var k []byte
	end = -1
	pos, runStart, hops, wire := off, off, 0, 0
	for {
		if pos >= len(msg) {
			return "", "", 0, false
		}
		c := msg[pos]
		switch {
		case c&0xc0 == 0xc0:
			if pos+1 >= len(msg) {
				return "", "", 0, false
			}
			ptr := int(c&0x3f)<<8 | int(msg[pos+1])
			if end < 0 {
				end = pos + 2
			}
			if ptr >= runStart {
				return "", "", 0, false
			}
			if hops++; hops > maxPtrHops {
				return "", "", 0, false
			}
			pos, runStart = ptr, ptr
		case c&0xc0 != 0:
			return "", "", 0, false
		case c == 0:
			if wire++; wire > 255 {
				return "", "", 0, false
			}
			if end < 0 {
				end = pos + 1
			}
			return strings.Join(labels, "."), string(k), end, true
		default:
			l := int(c)
			if pos+1+l > len(msg) {
				return "", "", 0, false
			}
			if wire += 1 + l; wire > 255 {
				return "", "", 0, false
			}
			label := asciiLower(msg[pos+1 : pos+1+l])
			labels = append(labels, label)
			k = append(append(k, byte(l)), label...)
			pos += 1 + l
		}
	}
}

func asciiLower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = lower(c)
	}
	return string(out)
}

func refParseDNS(b []byte) (ref refDNS) {
	if len(b) < 12 {
		ref.err = true
		return
	}
	qd, an := int(binary.BigEndian.Uint16(b[4:])), int(binary.BigEndian.Uint16(b[6:]))
	off := 12
	var chain []string
	for i := 0; i < qd; i++ {
		n, key, end, ok := refName(b, off)
		if !ok || end+4 > len(b) {
			ref.err = true
			return
		}
		if i == 0 {
			ref.qname = n
			chain = append(chain, key)
		}
		off = end + 4
	}
	has := func(n string) bool {
		for _, c := range chain {
			if c == n {
				return true
			}
		}
		return false
	}
	for pass := 0; pass < maxAnswerPasses; pass++ {
		ref.addrs, ref.cnames = nil, 0
		again, unmatched := false, false
		o := off
		n := 0
		for ; n < an; n++ {
			_, owner, end, ok := refName(b, o)
			if !ok || end+10 > len(b) {
				ref.err = true
				break
			}
			typ, class := binary.BigEndian.Uint16(b[end:]), binary.BigEndian.Uint16(b[end+2:])
			rdlen := int(binary.BigEndian.Uint16(b[end+8:]))
			rd := end + 10
			if rd+rdlen > len(b) {
				ref.err = true
				break
			}
			o = rd + rdlen
			if class&0x7fff != 1 || len(chain) == 0 {
				continue
			}
			switch {
			case typ == 1 && rdlen == 4, typ == 28 && rdlen == 16:
				if !has(owner) {
					unmatched = true
					continue
				}
				a, _ := netip.AddrFromSlice(b[rd : rd+rdlen])
				ref.addrs = append(ref.addrs, a)
			case typ == 5:
				_, target, tend, ok := refName(b, rd)
				if !ok || tend > rd+rdlen {
					ref.err = true
				}
				if ref.err {
					break
				}
				if !has(owner) {
					unmatched = true
					continue
				}
				ref.cnames++
				if len(chain) < maxChain && !has(target) {
					chain = append(chain, target)
					again = again || unmatched
				}
			}
			if ref.err {
				break
			}
		}
		if pass == 0 {
			ref.nAns = n
		}
		if ref.err || !again {
			break
		}
	}
	if len(ref.addrs) > 16 {
		ref.addrs = ref.addrs[:16]
	}
	return ref
}

func FuzzParseDNS(f *testing.F) {
	for _, b := range [][]byte{dnsMessengerQuery, dnsMessengerResp, dnsNXDomain, dnsSinkhole, dnsAAAA,
		buildDNS(1, 0x8180, "c.msn.com", 1, []dnsRR{
			{name: "c.msn.com.nsatc.net", typ: 1, rdata: ip4(65, 55, 5, 170)},
			{name: "c.atdmt.com", typ: 5, target: "c.msn.com.nsatc.net"},
			{name: "C.MSN.COM", typ: 5, target: "c.atdmt.com"},
		})} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m DNSMessage
		err := ParseDNS(b, &m)
		if err != nil && err != ErrMalformedDNS {
			t.Fatal(err)
		}
		if m.QNameLen < 0 || m.QNameLen > 254 || m.NAddrs < 0 || m.NAddrs > len(m.Addrs) || m.CNAMEs > m.NAnswers {
			t.Fatalf("bounds: %+v", m)
		}
		for _, c := range m.Name() {
			if 'A' <= c && c <= 'Z' {
				t.Fatalf("name not lower-cased: %q", m.Name())
			}
		}
		ref := refParseDNS(b)
		if ref.err != (err != nil) {
			t.Fatalf("err %v, reference err %v", err, ref.err)
		}
		if err == nil {
			if string(m.Name()) != ref.qname {
				t.Fatalf("name %q, reference %q", m.Name(), ref.qname)
			}
			if m.NAnswers != ref.nAns || m.CNAMEs != ref.cnames || m.NAddrs != len(ref.addrs) {
				t.Fatalf("answers %d/%d cnames %d/%d addrs %v/%v", m.NAnswers, ref.nAns, m.CNAMEs, ref.cnames, m.Addrs[:m.NAddrs], ref.addrs)
			}
			for i, a := range ref.addrs {
				if m.Addrs[i] != a {
					t.Fatalf("addr %d: %v, reference %v", i, m.Addrs[i], a)
				}
			}
		}
		tcp := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
		var m2 DNSMessage
		if len(b) <= 0xffff {
			if err2 := ParseDNSTCP(append(tcp, b...), &m2); err2 != err || m2 != m {
				t.Fatalf("tcp: %v vs %v", err2, err)
			}
		}
	})
}

func FuzzMSNPCommand(f *testing.F) {
	for _, s := range []string{msnpClientLogin, msnpDispatch, msnpSwitchboardUSR, msnpSwitchboardANS,
		"VER MSNFTP\r\n", "RNG 11752013 207.46.108.38:1863 CKI 849102291.520491113 bob@passport.com Bob\r\n",
		"MSG Hotmail Hotmail 1183\r\n", "CHL 0 15570131571988941333\r\n", "GCF 0 3044\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, r := MSNPCommand(b)
		if !validResult(r) {
			t.Fatal(r)
		}
		if r == Match && (len(b) < 4 || !bytes.Equal(cmd[:], b[:3])) {
			t.Fatalf("Match with cmd %q for %q", cmd, b)
		}
		for _, k := range cuts(len(b)) {
			if k < 0 || k >= len(b) {
				continue
			}
			pc, pr := MSNPCommand(b[:k])
			if pr == NoMatch && r != NoMatch || pr == Match && (r != Match || pc != cmd) {
				t.Fatalf("prefix %d: %q %v; full %q %v", k, pc, pr, cmd, r)
			}
		}
	})
}

func FuzzScanRedirects(f *testing.F) {
	f.Add([]byte(msnpDispatch))
	f.Add([]byte(msnpNS))
	f.Add([]byte("XFR 16 SB [2001:db8:0:1::25]:1863 CKI 1726.1050.323\n"))
	f.Add([]byte("XFR 2 NS ms1.escargot.chat:1863 0 ms1.escargot.chat:1863\r\nRNG 7 sb2.escargot.chat:1864 CKI 99.1 a@b.c Nick\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out [8]Redirect
		n := ScanRedirects(b, out[:])
		if n < 0 || n > len(out) {
			t.Fatal(n)
		}
		for _, r := range out[:n] {
			if r.Kind != 'N' && r.Kind != 'S' || r.Addr.IsValid() == (r.Host != nil) || r.Ring && r.Kind != 'S' ||
				r.Host != nil && (r.Addr.Port() == 0 || !isHostName(r.Host)) {
				t.Fatalf("redirect %+v", r)
			}
		}
		var small [2]Redirect
		m := ScanRedirects(b, small[:])
		if m != min(n, 2) || !equalRedirects(small[:m], out[:m]) {
			t.Fatalf("capacity 2: %d %+v vs %d %+v", m, small[:m], n, out[:n])
		}
	})
}

func equalRedirects(a, b []Redirect) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].Addr != b[i].Addr || a[i].Ring != b[i].Ring || !bytes.Equal(a[i].Host, b[i].Host) {
			return false
		}
	}
	return true
}

func FuzzScanInvite(f *testing.F) {
	for _, s := range []string{slpFileInvite, slpWebcamInvite, slpTransResp, slpWLM2009Trans, legacyFileInvite,
		legacyAccept, legacyNetMeeting, legacyVoice, legacyRA, chatMessage,
		"IPv4InternalAddrsAndPorts: 192.168.0.2:1234 [fe80::1]:5\r\nIPv6-Addrs: 2001:db8::5\r\nIPv6-Port: 5000\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var inv Invite
		found := ScanInvite(b, &inv)
		if inv.NEndpoints < 0 || inv.NEndpoints > len(inv.Endpoints) || inv.App > AppLegacyWebcam {
			t.Fatalf("bounds: %+v", inv)
		}
		if found != (inv.App != AppNone || inv.NEndpoints > 0) {
			t.Fatalf("found %v with %+v", found, inv)
		}
		for i, e := range inv.Endpoints[:inv.NEndpoints] {
			if !e.Addr().IsValid() {
				t.Fatalf("endpoint %d invalid", i)
			}
			for _, o := range inv.Endpoints[:i] {
				if o == e {
					t.Fatalf("duplicate endpoint %v", e)
				}
			}
		}
		_ = inv.App.String()
	})
}

func FuzzDirectHandshake(f *testing.F) {
	f.Add([]byte(msncHandshake))
	f.Add([]byte("\x04\x00\x00\x00foo\x00\x30\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := DirectHandshake(b)
		want := NoMatch
		switch {
		case len(b) >= 8 && string(b[:8]) == msncHandshake:
			want = Match
		case len(b) < 8 && string(b) == msncHandshake[:len(b)]:
			want = NeedMore
		}
		if r != want {
			t.Fatalf("%v, want %v", r, want)
		}
	})
}

func FuzzSIP(f *testing.F) {
	for _, s := range []string{sipRegister, sipOK, "INVITE sip:bob@hotmail.com SIP/2.0\r\n", "SERVICE sips:a@b SIP/2.0\n", "SIP/2.0 180\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := SIP(b)
		if !validResult(r) {
			t.Fatal(r)
		}
		for _, k := range cuts(len(b)) {
			if k < 0 || k >= len(b) {
				continue
			}
			if pr := SIP(b[:k]); pr != NeedMore && pr != r {
				t.Fatalf("prefix %d: %v, full %v", k, pr, r)
			}
		}
	})
}

func FuzzEchoProbe(f *testing.F) {
	f.Add(echoProbe(4, 0, 0))
	f.Add(echoProbe(1, 0x3141, 0x31413141))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := EchoProbe(b)
		want := NoMatch
		switch {
		case len(b) > 20 || len(b) >= 1 && b[0] != 2 || len(b) >= 2 && (b[1] < 1 || b[1] > 4):
		case len(b) == 20:
			want = Match
		default:
			want = NeedMore
		}
		if r != want {
			t.Fatalf("%v, want %v", r, want)
		}
	})
}

func FuzzTURN(f *testing.F) {
	f.Add(stunMsg(0x0002, 0x6a1f33c0, false, u16(6), []byte("RPS_t=EwCoAQ==&p=\x00\x00\x00")))
	f.Add(stunMsg(0x0102, 0x6a1f33c0, false, u16(6), []byte("user1234"), u16(7), []byte("pass5678")))
	f.Add(stunMsg(0x0001, stunMagicCookie, true, u16(0x0006), []byte("bob:alice"), u16(0x8022), []byte("WLM")))
	f.Add(stunMsg(0x0003, 0x8f2e610c, true, u16(0x000f), []byte{0x72, 0xc6, 0x4b, 0xc6}, u16(0x0006), []byte("RPS_abc")))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := TURN(b)
		if !validResult(r) {
			t.Fatal(r)
		}
		if r == Match && (len(b) < 20 || b[0]&0xc0 != 0 || 20+int(binary.BigEndian.Uint16(b[2:])) > len(b)) {
			t.Fatalf("Match on % x", b)
		}
		for _, k := range cuts(len(b)) {
			if k < 0 || k >= len(b) {
				continue
			}
			if pr := TURN(b[:k]); pr != NeedMore && pr != r {
				t.Fatalf("prefix %d: %v, full %v", k, pr, r)
			}
		}
	})
}

// FuzzParseAddr checks the allocation-free address parsers against net/netip.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"64.4.44.39", "207.46.108.37:1863", "[2001:db8::1]:443", "::ffff:1.2.3.4", "1:2:3:4:5:6:7::",
		"::", "fe80::1%eth0", "01.2.3.4", "1.2.3.4:65536", "2001:db8::1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		a, ok := parseAddr(b)
		na, err := netip.ParseAddr(s)
		if err == nil && na.Zone() != "" {
			err = errZone
		}
		if ok != (err == nil) || ok && a != na {
			t.Fatalf("parseAddr(%q) = %v, %v; netip: %v, %v", s, a, ok, na, err)
		}
		ap, ok := parseAddrPort(b)
		nap, err := netip.ParseAddrPort(s)
		if err == nil && (nap.Addr().Zone() != "" || nap.Addr().Is4() && strings.HasPrefix(s, "[") ||
			nap.Addr().Is6() && !strings.HasPrefix(s, "[") || strings.Contains(s, "]:+") || strings.Contains(s, "]:-")) {
			err = errZone
		}
		if err == nil {
			// netip accepts ports with leading zeros and up to any length of digits
			if _, pok := parseUint([]byte(s[strings.LastIndexByte(s, ':')+1:]), 5); !pok {
				err = errZone
			}
		}
		if ok != (err == nil) || ok && ap != nap {
			t.Fatalf("parseAddrPort(%q) = %v, %v; netip: %v, %v", s, ap, ok, nap, err)
		}
	})
}

type fuzzErr string

func (e fuzzErr) Error() string { return string(e) }

const errZone = fuzzErr("not comparable")
