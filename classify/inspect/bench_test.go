package inspect

import (
	"crypto/rand"
	"testing"
)

func benchBytes(b *testing.B, in []byte, f func([]byte)) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		f(in)
	}
}

func randomSegment(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return p
}

func BenchmarkClientHelloSNI(b *testing.B) {
	var buf [SNIBufLen]byte
	hello := win7ClientHello("login.live.com")
	b.Run("win7", func(b *testing.B) { benchBytes(b, hello, func(p []byte) { ClientHelloSNI(p) }) })
	b.Run("go-tls13", func(b *testing.B) { benchBytes(b, goClientHello(b), func(p []byte) { ClientHelloSNI(p) }) })
	b.Run("split-records", func(b *testing.B) {
		benchBytes(b, records(0x0301, hello[5:], 40, 80, 120), func(p []byte) { ClientHelloSNIInto(p, &buf) })
	})
	b.Run("not-tls", func(b *testing.B) { benchBytes(b, []byte(gatewayOpen), func(p []byte) { ClientHelloSNI(p) }) })
}

func BenchmarkParseRequest(b *testing.B) {
	var req Request
	b.Run("gateway", func(b *testing.B) { benchBytes(b, []byte(gatewayOpen), func(p []byte) { ParseRequest(p, &req) }) })
	b.Run("soap", func(b *testing.B) { benchBytes(b, []byte(soapReq), func(p []byte) { ParseRequest(p, &req) }) })
	b.Run("not-http", func(b *testing.B) { benchBytes(b, win7ClientHello("a"), func(p []byte) { ParseRequest(p, &req) }) })
}

func BenchmarkParseResponse(b *testing.B) {
	var resp Response
	b.Run("gateway", func(b *testing.B) { benchBytes(b, []byte(gatewayResp), func(p []byte) { ParseResponse(p, &resp) }) })
	b.Run("407", func(b *testing.B) { benchBytes(b, []byte(proxy407), func(p []byte) { ParseResponse(p, &resp) }) })
}

func BenchmarkParseDNS(b *testing.B) {
	var m DNSMessage
	b.Run("cname-chain", func(b *testing.B) { benchBytes(b, dnsMessengerResp, func(p []byte) { _ = ParseDNS(p, &m) }) })
	b.Run("nxdomain", func(b *testing.B) { benchBytes(b, dnsNXDomain, func(p []byte) { _ = ParseDNS(p, &m) }) })
	reordered := buildDNS(1, 0x8180, "c.msn.com", 1, []dnsRR{
		{name: "c.msn.com.nsatc.net", typ: 1, rdata: ip4(65, 55, 5, 170)},
		{name: "c.atdmt.com", typ: 5, target: "c.msn.com.nsatc.net"},
		{name: "c.msn.com", typ: 5, target: "c.atdmt.com"},
	})
	b.Run("reordered", func(b *testing.B) { benchBytes(b, reordered, func(p []byte) { _ = ParseDNS(p, &m) }) })
	// worst case: many answers, a full chain, each owner compared with every chain name
	var rrs []dnsRR
	for i := 0; i < 15; i++ {
		rrs = append(rrs, dnsRR{name: "n" + itoa(i) + ".example", typ: 5, target: "n" + itoa(i+1) + ".example"})
	}
	for i := 0; i < 400; i++ {
		rrs = append(rrs, dnsRR{name: "x" + itoa(i) + ".example", typ: 1, rdata: ip4(10, 0, byte(i>>8), byte(i))})
	}
	b.Run("400-answers", func(b *testing.B) {
		benchBytes(b, buildDNS(1, 0x8180, "n0.example", 1, rrs), func(p []byte) { _ = ParseDNS(p, &m) })
	})
}

func BenchmarkMSNPCommand(b *testing.B) {
	b.Run("client", func(b *testing.B) { benchBytes(b, []byte(msnpClientLogin), func(p []byte) { MSNPCommand(p) }) })
	b.Run("not-msnp", func(b *testing.B) { benchBytes(b, []byte(gatewayOpen), func(p []byte) { MSNPCommand(p) }) })
}

func BenchmarkScanRedirects(b *testing.B) {
	var out [8]Redirect
	benchBytes(b, []byte(msnpNS), func(p []byte) { ScanRedirects(p, out[:]) })
}

func BenchmarkScanInvite(b *testing.B) {
	var inv Invite
	b.Run("slp-file", func(b *testing.B) { benchBytes(b, []byte(slpFileInvite), func(p []byte) { ScanInvite(p, &inv) }) })
	b.Run("wlm2009-trans", func(b *testing.B) { benchBytes(b, []byte(slpWLM2009Trans), func(p []byte) { ScanInvite(p, &inv) }) })
	b.Run("legacy-accept", func(b *testing.B) { benchBytes(b, []byte(legacyAccept), func(p []byte) { ScanInvite(p, &inv) }) })
	b.Run("chat", func(b *testing.B) { benchBytes(b, []byte(chatMessage), func(p []byte) { ScanInvite(p, &inv) }) })
	b.Run("random-1400", func(b *testing.B) { benchBytes(b, randomSegment(1400), func(p []byte) { ScanInvite(p, &inv) }) })
}

func BenchmarkSignatures(b *testing.B) {
	b.Run("DirectHandshake", func(b *testing.B) {
		benchBytes(b, []byte("\x04\x00\x00\x00foo\x00"), func(p []byte) { DirectHandshake(p) })
	})
	b.Run("SIP", func(b *testing.B) { benchBytes(b, []byte(sipRegister), func(p []byte) { SIP(p) }) })
	probe := make([]byte, 20)
	probe[0], probe[1] = 2, 1
	b.Run("EchoProbe", func(b *testing.B) { benchBytes(b, probe, func(p []byte) { EchoProbe(p) }) })
	turn := stunMsg(0x0001, stunMagicCookie, true, u16(0x0006), []byte("bob:alice"), u16(0x8022), []byte("WLM"))
	b.Run("TURN", func(b *testing.B) { benchBytes(b, turn, func(p []byte) { TURN(p) }) })
}
