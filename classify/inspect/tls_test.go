package inspect

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestTLSRecordStart(t *testing.T) {
	tests := []struct {
		in   []byte
		want bool
	}{
		{[]byte{0x16, 0x03, 0x01, 0x00, 0xc5}, true},
		{[]byte{0x16, 0x03, 0x00}, true},
		{[]byte{0x16, 0x03, 0x04}, true},
		{[]byte{0x16, 0x03, 0x05}, false},
		{[]byte{0x16, 0x02, 0x00}, false},
		{[]byte{0x17, 0x03, 0x03}, false},
		{[]byte{0x80, 0x46, 0x01, 0x03, 0x01}, false}, // SSLv2-compatible hello
		{[]byte("GET"), false},
		{[]byte{0x16, 0x03}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := TLSRecordStart(tt.in); got != tt.want {
			t.Errorf("TLSRecordStart(% x) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// sniOffset finds where the host name lies inside a one-record hello.
func sniOffset(t *testing.T, rec []byte, host string) int {
	t.Helper()
	i := bytes.Index(rec, []byte(host))
	if i < 0 {
		t.Fatalf("host %q not in hello", host)
	}
	return i
}

func TestClientHelloSNI(t *testing.T) {
	suites := []uint16{0x002f, 0x0035}
	hs := func(exts []tlsExt) []byte { return buildClientHello(0x0303, suites, exts) }
	rec := func(h []byte) []byte { return records(0x0301, h) }
	good := hs([]tlsExt{{0x000a, []byte{0, 2, 0, 0x17}}, sniExt("messenger.hotmail.com"), {0x0017, nil}})

	// patch returns a copy of the handshake message with a 16-bit field at
	// off changed to v.
	patch := func(h []byte, off int, v uint16) []byte {
		c := bytes.Clone(h)
		binary.BigEndian.PutUint16(c[off:], v)
		return c
	}
	// offsets inside good: header 4, version 2, random 32, sid len 1 + 32,
	// suites 2+4, compression 2, extensions length at 79.
	const extLenOff = 4 + 2 + 32 + 1 + 32 + 2 + 4 + 2
	sniExtOff := extLenOff + 2 + 4 + 4 // after the supported_groups extension
	tests := []struct {
		name string
		in   []byte
		sni  string
		want Result
	}{
		{"win7 schannel to login.live.com", win7ClientHello("login.live.com"), "login.live.com", Match},
		{"xp schannel, no extensions", xpClientHello(), "", Match},
		{"extensions without server_name", rec(hs([]tlsExt{{0xff01, []byte{0}}, {0x0023, nil}})), "", Match},
		{"empty extensions block", rec(hs([]tlsExt{})), "", Match},
		{"sni in second position", rec(good), "messenger.hotmail.com", Match},
		{"first host_name wins", rec(hs([]tlsExt{sniExt("a.example", "b.example")})), "a.example", Match},
		{"record version 3.3", records(0x0303, good), "messenger.hotmail.com", Match},
		{"empty", nil, "", NeedMore},
		{"one byte", []byte{0x16}, "", NeedMore},
		{"record header only", rec(good)[:5], "", NeedMore},
		{"application data", []byte{0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3}, "", NoMatch},
		{"http", []byte("GET / HTTP/1.1\r\n"), "", NoMatch},
		{"record version 3.5", []byte{0x16, 0x03, 0x05, 0x00, 0x10}, "", NoMatch},
		{"record version 2.0", []byte{0x16, 0x02}, "", NoMatch},
		{"oversized record", []byte{0x16, 0x03, 0x01, 0x48, 0x01, 1}, "", NoMatch},
		{"server hello", rec(append([]byte{2}, good[1:]...)), "", NoMatch},
		{"client version 2.0", rec(patch(good, 4, 0x0200)), "", NoMatch},
		{"handshake too short", rec([]byte{1, 0, 0, 10, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0}), "", NoMatch},
		{"session id 33", rec(func() []byte { c := bytes.Clone(good); c[38] = 33; return c }()), "", NoMatch},
		{"odd cipher suites length", rec(patch(good, 71, 3)), "", NoMatch},
		{"cipher suites past end", rec(patch(good, 71, 0x4000)), "", NoMatch},
		{"extensions length too long", rec(patch(good, extLenOff, uint16(len(good)-extLenOff))), "", NoMatch},
		{"extensions length too short", rec(patch(good, extLenOff, uint16(len(good)-extLenOff-4))), "", NoMatch},
		{"extension length past block", rec(patch(good, extLenOff+4, 0x0400)), "", NoMatch},
		{"server_name length past block", rec(patch(good, sniExtOff+2, 0x0100)), "", NoMatch},
		{"server_name list longer than extension", rec(patch(good, sniExtOff+4, 0x0040)), "", NoMatch},
		{"server_name list shorter than extension", rec(patch(good, sniExtOff+4, 0x0010)), "", NoMatch},
		{"host name longer than list", rec(patch(good, sniExtOff+7, 0x0030)), "", NoMatch},
		{"empty host name", rec(hs([]tlsExt{sniExt("")})), "", NoMatch},
		{"second record not handshake", append(records(0x0301, good, 60)[:65], 0x17, 0x03, 0x01, 0x00, 0x10), "", NoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sni, r := ClientHelloSNI(tt.in)
			if r != tt.want || string(sni) != tt.sni {
				t.Fatalf("ClientHelloSNI = %q, %v; want %q, %v", sni, r, tt.sni, tt.want)
			}
			if sni != nil && !within(sni, tt.in) {
				t.Fatalf("sni is not a sub-slice of the input")
			}
		})
	}
}

// within reports whether sub lies inside b's backing array.
func within(sub, b []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := range b {
		if &b[i] == &sub[0] {
			return i+len(sub) <= len(b)
		}
	}
	return false
}

func TestClientHelloSNIGoTLS13(t *testing.T) {
	in := goClientHello(t)
	sni, r := ClientHelloSNI(in)
	if r != Match || string(sni) != "contacts.msn.com" {
		t.Fatalf("got %q, %v", sni, r)
	}
}

// Every prefix is NeedMore until the name is complete, then Match with the
// same name; bytes after the hello change nothing.
func TestClientHelloSNIPrefixes(t *testing.T) {
	for _, in := range [][]byte{win7ClientHello("login.live.com"), goClientHello(t), xpClientHello()} {
		_, want := ClientHelloSNI(in)
		wantSNI, _ := ClientHelloSNI(in)
		matched := false
		for i := 0; i <= len(in); i++ {
			sni, r := ClientHelloSNI(in[:i])
			switch {
			case r == NoMatch:
				t.Fatalf("prefix %d/%d: NoMatch", i, len(in))
			case r == Match:
				matched = true
				if !bytes.Equal(sni, wantSNI) {
					t.Fatalf("prefix %d: sni %q, want %q", i, sni, wantSNI)
				}
			case matched:
				t.Fatalf("prefix %d: %v after a Match", i, r)
			}
		}
		if !matched || want != Match {
			t.Fatal("never matched")
		}
		more := append(bytes.Clone(in), 0x14, 0x03, 0x03, 0x00, 0x01, 0x01)
		if sni, r := ClientHelloSNI(more); r != Match || !bytes.Equal(sni, wantSNI) {
			t.Fatalf("with trailing records: %q, %v", sni, r)
		}
	}
}

// A ClientHello fragmented over two (and many) handshake records, at every
// possible cut, yields the same name: from ClientHelloSNIInto always, and from
// ClientHelloSNI unless the cut falls inside the name itself.
func TestClientHelloSNIFragmented(t *testing.T) {
	const host = "login.live.com"
	hs := win7ClientHello(host)[5:]
	nameAt := sniOffset(t, hs, host)
	var buf [SNIBufLen]byte
	for cut := 1; cut < len(hs); cut++ {
		in := records(0x0301, hs, cut)
		sni, r := ClientHelloSNIInto(in, &buf)
		if r != Match || string(sni) != host {
			t.Fatalf("cut %d: Into = %q, %v", cut, sni, r)
		}
		sni, r = ClientHelloSNI(in)
		split := cut > nameAt && cut < nameAt+len(host)
		if r != Match || split && sni != nil || !split && string(sni) != host {
			t.Fatalf("cut %d (split=%v): %q, %v", cut, split, sni, r)
		}
		// every prefix of the two-record stream is NeedMore or the final answer
		for i := 0; i < len(in); i++ {
			if _, r := ClientHelloSNIInto(in[:i], &buf); r == NoMatch {
				t.Fatalf("cut %d prefix %d: NoMatch", cut, i)
			}
		}
	}
	// one handshake byte per record, with empty records in between
	var in []byte
	for i := range hs {
		in = append(in, 22, 3, 1, 0, 0)
		in = append(in, 22, 3, 1, 0, 1, hs[i])
	}
	if sni, r := ClientHelloSNIInto(in, &buf); r != Match || string(sni) != host {
		t.Fatalf("1-byte records: %q, %v", sni, r)
	}
	if sni, r := ClientHelloSNI(in); r != Match || sni != nil {
		t.Fatalf("1-byte records without buffer: %q, %v", sni, r)
	}
	if sni, r := ClientHelloSNIInto(in, nil); r != Match || sni != nil {
		t.Fatalf("nil buffer: %q, %v", sni, r)
	}
}

// Corrupting any single byte of a hello never panics, and a Match either
// carries the right name or a name that differs only where the byte changed.
func TestClientHelloSNIByteFlips(t *testing.T) {
	in := win7ClientHello("login.live.com")
	for i := range in {
		for _, d := range []byte{1, 0x7f, 0xff} {
			c := bytes.Clone(in)
			c[i] += d
			sni, r := ClientHelloSNI(c)
			if r == Match && sni != nil && !within(sni, c) {
				t.Fatalf("flip %d: sni not within input", i)
			}
		}
	}
}
