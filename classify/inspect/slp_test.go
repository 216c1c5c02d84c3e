package inspect

import (
	"crypto/rand"
	"strings"
	"testing"
)

func endpoints(inv *Invite) string {
	var s []string
	for _, e := range inv.Endpoints[:inv.NEndpoints] {
		s = append(s, e.String())
	}
	return strings.Join(s, " ")
}

func TestScanInvite(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		found       bool
		app         App
		eps         string
		slp, legacy bool
	}{
		{"msnslp file transfer in MSG with binary header", slpFileInvite, true, AppFileTransfer, "", true, false},
		{"msnslp webcam, lower-case guid", slpWebcamInvite, true, AppWebcam, "", true, false},
		{"transrespbody endpoints", slpTransResp, true, AppNone,
			"86.12.200.7:6891 192.168.1.33:3796 10.8.0.6:3796", true, false},
		{"wlm 2009 reversed transreqbody", slpWLM2009Trans, true, AppNone,
			"81.56.140.22:50300 81.56.140.22:50213 192.168.0.10:50214 169.254.7.12:50214", true, false},
		{"legacy file transfer invite", legacyFileInvite, true, AppFileTransfer, "", false, true},
		{"legacy accept with xored PortX", legacyAccept, true, AppNone,
			"81.56.140.22:6891 192.168.0.10:6891 192.168.0.10:6892", false, true},
		{"netmeeting", legacyNetMeeting, true, AppWhiteboard, "", false, true},
		{"legacy voice with public/private ip", legacyVoice, true, AppVoice, "129.21.160.34:0 192.168.1.102:0", false, true},
		{"remote assistance", legacyRA, true, AppRemoteAssistance, "", false, true},
		{"app sharing", "Application-GUID: {F1B1920C-6A3C-4ce7-B18C-AFAB305FD03D}\r\n", true, AppWhiteboard, "", false, true},
		{"windows messenger whiteboard", "Application-GUID: {1DF57D09-637A-4ca5-91B9-2C3EDAAF62FE}\r\n", true, AppWhiteboard, "", false, true},
		{"legacy webcam", "Application-GUID: {2A23868E-B45F-401d-B8B0-1E16B774A5B7}\r\n", true, AppLegacyWebcam, "", false, true},
		{"msn object", "EUF-GUID: {A4268EEC-FEC5-49E5-95C3-F126696BDBF6}\r\n", true, AppMSNObject, "", true, false},
		{"webcam receive", "EUF-GUID: {1C9AA97E-9C05-4583-A3BD-908A196F1E92}\r\n", true, AppWebcam, "", true, false},
		{"share photo", "EUF-GUID: {41D3E74E-04A2-4B37-96F8-08ACDB610874}\r\n", true, AppSharePhoto, "", true, false},
		{"activity, bare lower-case guid", "EUF-GUID: 6a13af9c-5308-4f35-923a-67e8dda40c2f\r\n", true, AppActivity, "", true, false},
		{"header name case", "MSNSLP/1.0 200 OK\r\neuf-guid: {6A13AF9C-5308-4F35-923A-67E8DDA40C2F}\r\nipv4internal-addrs: 10.0.0.9\r\nIPV4INTERNAL-PORT: 99\r\n", true, AppActivity, "10.0.0.9:99", true, false},
		{"unknown guid", "EUF-GUID: {00000000-0000-0000-0000-000000000000}\r\n", false, AppNone, "", true, false},
		{"addrs and ports form, ipv6", "IPv4InternalAddrsAndPorts: 192.168.0.2:1234 10.0.0.2:1235\r\nIPv6-Addrs: 2001:db8::5 fe80::1\r\nIPv6-Port: 5000\r\n", true, AppNone,
			"192.168.0.2:1234 10.0.0.2:1235 [2001:db8::5]:5000 [fe80::1]:5000", true, false},
		{"per-address ports", "IPv4Internal-Addrs: 10.0.0.1 10.0.0.2 10.0.0.3\r\nIPv4Internal-Port: 4000 4001\r\n", true, AppNone,
			"10.0.0.1:4000 10.0.0.2:4001 10.0.0.3:4000", true, false},
		{"addrs without port", "IPv4External-Addrs: 1.2.3.4\r\n", false, AppNone, "", true, false},
		{"header after binary bytes on the same line", "\x00\x17\x9aQIPv4Internal-Addrs: 10.1.1.1\r\nIPv4Internal-Port: 2000\r\n", true, AppNone, "10.1.1.1:2000", true, false},
		{"bad values skipped", "IPv4External-Addrs: 300.1.1.1 1.2.3 a.b.c.d 5.6.7.8\r\nIPv4External-Port: 0\r\nIP-Address: x\r\nPort: 70000\r\n", false, AppNone, "", true, false},
		{"plain chat", chatMessage, false, AppNone, "", false, false},
		{"msnp login", msnpClientLogin, false, AppNone, "", false, false},
		{"http gateway", gatewayOpen, false, AppNone, "", false, false},
		{"empty", "", false, AppNone, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inv Invite
			got := ScanInvite([]byte(tt.in), &inv)
			if got != tt.found || inv.App != tt.app || endpoints(&inv) != tt.eps || inv.SLP != tt.slp || inv.Legacy != tt.legacy {
				t.Fatalf("got %v app %v eps %q slp %v legacy %v", got, inv.App, endpoints(&inv), inv.SLP, inv.Legacy)
			}
		})
	}
}

func TestScanInviteLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("IPv4Internal-Addrs:")
	for i := 0; i < 20; i++ {
		b.WriteString(" 10.0.0." + itoa(i+1))
	}
	b.WriteString("\r\nIPv4Internal-Port: 3000\r\nIPv4ExternalAddrsAndPorts: 1.1.1.1:1 1.1.1.1:1\r\n")
	var inv Invite
	if !ScanInvite([]byte(b.String()), &inv) || inv.NEndpoints != MaxInviteEndpoints {
		t.Fatalf("NEndpoints %d", inv.NEndpoints)
	}
	// duplicates are dropped
	if !ScanInvite([]byte("IPv4ExternalAddrsAndPorts: 1.1.1.1:1 1.1.1.1:1\r\n"), &inv) || inv.NEndpoints != 1 {
		t.Fatalf("dedupe: %d", inv.NEndpoints)
	}
	// a reversed value with an over-long token
	in := "srddA-lanretxE4vPI: " + strings.Repeat("9", 100) + " " + reverse("1.2.3.4") + "\r\ntroP-lanretxE4vPI: " + reverse("4000") + "\r\n"
	if !ScanInvite([]byte(in), &inv) || endpoints(&inv) != "1.2.3.4:4000" {
		t.Fatalf("reversed long token: %q", endpoints(&inv))
	}
}

func TestScanInviteRandom(t *testing.T) {
	b := make([]byte, 1400)
	var inv Invite
	for i := 0; i < 200; i++ {
		_, _ = rand.Read(b)
		ScanInvite(b, &inv)
	}
}

func TestAppString(t *testing.T) {
	for a, want := range map[App]string{AppNone: "none", AppFileTransfer: "file-transfer", AppWebcam: "webcam", AppActivity: "activity",
		AppMSNObject: "msn-object", AppSharePhoto: "share-photo", AppWhiteboard: "whiteboard", AppRemoteAssistance: "remote-assistance",
		AppVoice: "voice", AppLegacyWebcam: "legacy-webcam", App(200): "app(invalid)"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q", a, got)
		}
	}
}
