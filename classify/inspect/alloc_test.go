package inspect

import (
	"net/netip"
	"testing"
)

// Every inspector must run without heap allocation on realistic input.
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	hello := win7ClientHello("login.live.com")
	goHello := goClientHello(t)
	split := records(0x0301, hello[5:], 120)
	var sniBuf [SNIBufLen]byte
	var req Request
	var resp Response
	var m DNSMessage
	var inv Invite
	var redirects [8]Redirect
	tcpDNS := append([]byte{0, byte(len(dnsMessengerResp))}, dnsMessengerResp...)
	reordered := buildDNS(1, 0x8180, "c.msn.com", 1, []dnsRR{
		{name: "c.msn.com.nsatc.net", typ: 1, rdata: ip4(65, 55, 5, 170)},
		{name: "c.atdmt.com", typ: 5, target: "c.msn.com.nsatc.net"},
		{name: "c.msn.com", typ: 5, target: "c.atdmt.com"},
	})
	turn := []byte{0, 2, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 6, 0, 4, 'R', 'P', 'S', '_'}
	chatMessageB := []byte(chatMessage)
	gatewayOpenB := []byte(gatewayOpen)
	gatewayRespB := []byte(gatewayResp)
	legacyAcceptB := []byte(legacyAccept)
	msnpClientLoginB := []byte(msnpClientLogin)
	msnpDispatchB := []byte(msnpDispatch)
	msnpNSB := []byte(msnpNS)
	proxy407B := []byte(proxy407)
	sipRegisterB := []byte(sipRegister)
	slpFileInviteB := []byte(slpFileInvite)
	slpWLM2009TransB := []byte(slpWLM2009Trans)
	soapReqB := []byte(soapReq)
	handshake := []byte("\x04\x00\x00\x00foo\x00")
	probe := make([]byte, 20)
	probe[0], probe[1] = 2, 4

	cases := []struct {
		name string
		f    func()
	}{
		{"ClientHelloSNI/win7", func() { ClientHelloSNI(hello) }},
		{"ClientHelloSNI/go", func() { ClientHelloSNI(goHello) }},
		{"ClientHelloSNIInto/split", func() { ClientHelloSNIInto(split, &sniBuf) }},
		{"TLSRecordStart", func() { TLSRecordStart(hello) }},
		{"ParseRequest/gateway", func() { ParseRequest(gatewayOpenB, &req) }},
		{"ParseRequest/soap", func() { ParseRequest(soapReqB, &req) }},
		{"IsGateway", func() { IsGateway(&req) }},
		{"HostOnly", func() { HostOnly(req.Host) }},
		{"TargetAuthority", func() { TargetAuthority(req.Target) }},
		{"ParseResponse/gateway", func() { ParseResponse(gatewayRespB, &resp) }},
		{"ParseResponse/407", func() { ParseResponse(proxy407B, &resp) }},
		{"ParseDNS/cname", func() { _ = ParseDNS(dnsMessengerResp, &m) }},
		{"ParseDNS/reordered", func() { _ = ParseDNS(reordered, &m) }},
		{"ParseDNS/malformed", func() { _ = ParseDNS(dnsMessengerResp[:40], &m) }},
		{"ParseDNSTCP", func() { _ = ParseDNSTCP(tcpDNS, &m) }},
		{"DNSMessage.Name", func() { m.Name() }},
		{"RCodeName", func() { _ = RCodeName(m.RCode) }},
		{"IsSinkhole", func() { IsSinkhole(netip.AddrFrom4([4]byte{127, 0, 0, 1})) }},
		{"MSNPCommand", func() { MSNPCommand(msnpClientLoginB) }},
		{"MSNPCommand/server", func() { MSNPCommand(msnpDispatchB) }},
		{"ScanRedirects", func() { ScanRedirects(msnpNSB, redirects[:]) }},
		{"ScanInvite/slp", func() { ScanInvite(slpFileInviteB, &inv) }},
		{"ScanInvite/wlm2009", func() { ScanInvite(slpWLM2009TransB, &inv) }},
		{"ScanInvite/legacy", func() { ScanInvite(legacyAcceptB, &inv) }},
		{"ScanInvite/chat", func() { ScanInvite(chatMessageB, &inv) }},
		{"App.String", func() { _ = inv.App.String() }},
		{"DirectHandshake", func() { DirectHandshake(handshake) }},
		{"SIP", func() { SIP(sipRegisterB) }},
		{"EchoProbe", func() { EchoProbe(probe) }},
		{"TURN", func() { TURN(turn) }},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(200, c.f); n != 0 {
			t.Errorf("%s: %v allocs/op", c.name, n)
		}
	}
}
