package inspect

import (
	"net/netip"
	"strings"
	"testing"
)

func TestMSNPCommand(t *testing.T) {
	tests := []struct {
		in   string
		cmd  string
		want Result
	}{
		// client side (WLM 2009 login, pastebin GxyKDpUQ)
		{msnpClientLogin, "VER", Match},
		{"VER 1 MSNP18 CVR0\r\n", "VER", Match},
		{"VER 0 MSNP8 CVR0\r\n", "VER", Match},
		{"VER 1 CVR0\r\n", "VER", Match},
		{"VER MSNFTP\r\n", "VER", Match},
		{"VER 0 MSNFTP\r\n", "VER", Match},
		{"CVR 2 0x0409 winnt 6.0 i386 MSNMSGR 14.0.8089.0726 msmsgs alice@hotmail.com\r\n", "CVR", Match},
		{"USR 3 SSO I alice@hotmail.com\r\n", "USR", Match},
		{"USR 3 TWN I alice@hotmail.com\r\n", "USR", Match},
		{msnpSwitchboardUSR, "USR", Match},
		{msnpSwitchboardANS, "ANS", Match},
		// server side
		{msnpDispatch, "VER", Match},
		{"VER 1 MSNP18\r\n", "VER", Match},
		{"CVR 2 14.0.8089 14.0.8089 14.0.8089 http://msgruser.dlservice.microsoft.com/x http://download.live.com/?sku=messenger\r\n", "CVR", Match},
		{"USR 4 OK alice@hotmail.com 1 0\r\n", "USR", Match},
		{"XFR 3 NS 64.4.44.39:1863 U D\r\n", "XFR", Match},
		{"XFR 15 SB 207.46.108.37:1863 CKI 17262740.1050826919.32308\r\n", "XFR", Match},
		{"RNG 11752013 207.46.108.38:1863 CKI 849102291.520491113 bob@passport.com Bob\r\n", "RNG", Match},
		{"GCF 0 3044\r\n<Policies>", "GCF", Match},
		{"GCF 0 Shields.xml 3044\r\n", "GCF", Match},
		{"MSG Hotmail Hotmail 1183\r\nMIME-Version: 1.0\r\n", "MSG", Match},
		{"SBS 0 null\r\n", "SBS", Match},
		{"CHL 0 15570131571988941333\r\n", "CHL", Match},
		// need more
		{"", "", NeedMore},
		{"VE", "", NeedMore},
		{"VER", "VER", NeedMore},
		{"VER 1 MSNP18 CVR", "VER", NeedMore},
		{"VER 1 MSNP18 CVR0\r", "VER", NeedMore},
		// no match
		{"GET / HTTP/1.1\r\n", "GET", NoMatch},
		{"\x16\x03\x01\x00\xc5", "", NoMatch},
		{"HELO mail.example\r\n", "HEL", NoMatch},
		{"VER 1 FOO\r\n", "VER", NoMatch},
		{"VER x MSNP18\r\n", "VER", NoMatch},
		{"VER 1 MSNP\r\n", "VER", NoMatch},
		{"VER 1 MSNP18\n", "VER", NoMatch},
		{"VER 1 MSNP18\rX", "VER", NoMatch},
		{"VER 1\tMSNP18\r\n", "VER", NoMatch},
		{"VERX 1 MSNP18\r\n", "VER", NoMatch},
		{"Ver 1 MSNP18\r\n", "", NoMatch},
		{"CVR 2 0x0409\r\n", "CVR", NoMatch},
		{"USR 3 alice 123\r\n", "USR", NoMatch},
		{"USR x SSO I a@b\r\n", "USR", NoMatch},
		{"ANS 1 bob 84 11\r\n", "ANS", NoMatch},
		{"XFR 3 XX 1.2.3.4:1863\r\n", "XFR", NoMatch},
		{"RNG 1 1.2.3.4:1863 XXX t a@b\r\n", "RNG", NoMatch},
		{"MSG alice@hotmail.com Alice 133\r\n", "MSG", NoMatch},
		{"CHL 0\r\n", "CHL", NoMatch},
		{"CHG 9 NLN 0\r\n", "CHG", NoMatch},
		{"VER 1 " + strings.Repeat("X", MaxMSNPLine), "VER", NoMatch},
		{"VER 1 " + strings.Repeat("X", MaxMSNPLine-20), "VER", NeedMore},
	}
	for _, tt := range tests {
		cmd, r := MSNPCommand([]byte(tt.in))
		gotCmd := strings.TrimRight(string(cmd[:]), "\x00")
		if r != tt.want || gotCmd != tt.cmd {
			t.Errorf("MSNPCommand(%.40q) = %q, %v; want %q, %v", tt.in, gotCmd, r, tt.cmd, tt.want)
		}
	}
}

// Every prefix of a matching first line is NeedMore until its CRLF.
func TestMSNPCommandPrefixes(t *testing.T) {
	for _, in := range []string{msnpClientLogin, msnpDispatch, msnpSwitchboardANS} {
		end := strings.Index(in, "\r\n") + 2
		for i := 0; i <= len(in); i++ {
			_, r := MSNPCommand([]byte(in[:i]))
			want := NeedMore
			if i >= end {
				want = Match
			}
			if r != want {
				t.Fatalf("prefix %d of %.20q: %v, want %v", i, in, r, want)
			}
		}
	}
}

func TestScanRedirects(t *testing.T) {
	ap := netip.MustParseAddrPort
	var out [8]Redirect
	n := ScanRedirects([]byte(msnpDispatch), out[:])
	if n != 1 || !equalRedirects(out[:1], []Redirect{{Kind: 'N', Addr: ap("64.4.44.39:1863")}}) {
		t.Fatalf("dispatch: %d %+v", n, out[:n])
	}
	n = ScanRedirects([]byte(msnpNS), out[:])
	want := []Redirect{
		{Kind: 'S', Addr: ap("207.46.108.37:1863")},
		{Kind: 'S', Addr: ap("207.46.108.38:1863"), Ring: true},
		{Kind: 'S', Addr: ap("[2001:db8:0:1::25]:1863")},
		{Kind: 'S', Addr: netip.AddrPortFrom(netip.Addr{}, 1863), Host: []byte("sb.escargot.chat")},
	}
	if n != len(want) {
		t.Fatalf("ns: %d redirects %+v, want %+v", n, out[:n], want)
	}
	if !equalRedirects(out[:n], want) {
		t.Fatalf("ns = %+v, want %+v", out[:n], want)
	}
	// out is bounded
	if n := ScanRedirects([]byte(msnpNS), out[:1]); n != 1 || out[0].Addr != ap("207.46.108.37:1863") {
		t.Fatalf("len(out)=1: %d", n)
	}
	if n := ScanRedirects([]byte(msnpNS), nil); n != 0 {
		t.Fatalf("nil out: %d", n)
	}
	// an incomplete last line is not read; a payload longer than the input stops the scan
	for _, in := range []string{
		"XFR 3 NS 64.4.44.39:1863 U D",
		"MSG Hotmail Hotmail 500\r\nXFR 3 NS 64.4.44.39:1863 U D\r\n",
		"XFR 3 NS 64.4.44.39 U D\r\nXFR 3 NS 1.2.3.4:99999 U D\r\nXFR 3 SB 1.2.3.4:1863 XXX y\r\nRNG 1 1.2.3.4:1863\r\n",
	} {
		if n := ScanRedirects([]byte(in), out[:]); n != 0 {
			t.Fatalf("%q: %d redirects %+v", in, n, out[:n])
		}
	}
	// bare LF lines are read too
	if n := ScanRedirects([]byte("XFR 3 NS 64.4.44.39:1863 U D\n"), out[:]); n != 1 {
		t.Fatalf("LF: %d", n)
	}
	// revival servers name hosts; what is not a host name is no redirect
	n = ScanRedirects([]byte("XFR 2 NS ms1.Escargot.chat:1863 0 ms1.escargot.chat:1863\r\n"+
		"RNG 7 sb2.escargot.chat:1864 CKI 99.1 a@b.c Nick\r\n"+
		"XFR 8 SB -bad.example:1864 CKI 1\r\nXFR 9 SB bad_name.example:1864 CKI 1\r\nXFR 10 SB 1.2.3:1864 CKI 1\r\n"+
		"XFR 11 SB host.example:0 CKI 1\r\n"), out[:])
	want = []Redirect{
		{Kind: 'N', Addr: netip.AddrPortFrom(netip.Addr{}, 1863), Host: []byte("ms1.Escargot.chat")},
		{Kind: 'S', Addr: netip.AddrPortFrom(netip.Addr{}, 1864), Host: []byte("sb2.escargot.chat"), Ring: true},
	}
	if !equalRedirects(out[:n], want) || n != len(want) {
		t.Fatalf("host names: %+v, want %+v", out[:n], want)
	}
}
