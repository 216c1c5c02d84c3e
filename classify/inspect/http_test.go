package inspect

import (
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	longTarget := "GET /" + strings.Repeat("a", MaxHead) + " HTTP/1.1\r\n"
	bigHead := "GET /x HTTP/1.1\r\nHost: big.example\r\n" + strings.Repeat("X-Pad: 0123456789abcdef\r\n", MaxHead/24)
	tests := []struct {
		name               string
		in                 string
		want               Result
		method, target     string
		host, ctype, agent string
		gateway            bool
	}{
		{"gateway open via proxy", gatewayOpen, Match, "POST",
			"http://gateway.messenger.hotmail.com/gateway/gateway.dll?Action=open&Server=NS&IP=messenger.hotmail.com",
			"gateway.messenger.hotmail.com", "application/x-msn-messenger", "MSMSGS", true},
		{"gateway poll", gatewayPoll, Match, "POST", "/gateway/gateway.dll?Action=poll&SessionID=1863471289.1234",
			"by2msg3010710.by2.gateway.edge.messenger.live.com", "text/xml; charset=utf-8",
			"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; Windows Live Messenger 8.0.0792)", true},
		{"connect through proxy", connectReq, Match, "CONNECT", "messenger.hotmail.com:1863",
			"messenger.hotmail.com", "", "MSN Explorer/9.0 (MSN 8.0; TmstmpExt)", false},
		{"abservice soap", soapReq, Match, "POST", "/abservice/abservice.asmx",
			"local-bay.contacts.msn.com", "text/xml; charset=utf-8", "MSN Explorer/9.0 (MSN 8.0; TmstmpExt)", false},
		{"bare LF, odd case, padded values", "GET /Config/MsgrConfig.asmx HTTP/1.0\nhOsT: \t Config.Messenger.MSN.com \t\nCONTENT-TYPE:application/X-MSN-Messenger; charset=UTF-8\n\n",
			Match, "GET", "/Config/MsgrConfig.asmx", "Config.Messenger.MSN.com", "application/X-MSN-Messenger; charset=UTF-8", "", true},
		{"uppercase gateway path", "POST /GATEWAY/Gateway.DLL?SessionID=1 HTTP/1.1\r\n\r\n", Match, "POST", "/GATEWAY/Gateway.DLL?SessionID=1", "", "", "", true},
		{"first header wins, folded line skipped", "GET / HTTP/1.1\r\nHost: a\r\n continued\r\nno colon line\r\nHost: b\r\n\r\n", Match, "GET", "/", "a", "", "", false},
		{"propfind", "PROPFIND /storageservice/ HTTP/1.1\r\nHost: storage.msn.com\r\n\r\n", Match, "PROPFIND", "/storageservice/", "storage.msn.com", "", "", false},
		{"m-search style method", "M-SEARCH * HTTP/1.1\r\n\r\n", Match, "M-SEARCH", "*", "", "", "", false},
		{"head over MaxHead", bigHead, Match, "GET", "/x", "big.example", "", "", false},
		{"request line over MaxHead", longTarget, NoMatch, "", "", "", "", "", false},
		{"empty", "", NeedMore, "", "", "", "", "", false},
		{"method prefix", "POS", NeedMore, "", "", "", "", "", false},
		{"in target", "POST /gateway/gate", NeedMore, "", "", "", "", "", false},
		{"in version", "GET / HTT", NeedMore, "", "", "", "", "", false},
		{"before LF", "GET / HTTP/1.1\r", NeedMore, "", "", "", "", "", false},
		{"head not ended", "GET / HTTP/1.1\r\nHost: login.live.com\r\n", NeedMore, "", "", "", "", "", false},
		{"lower-case method", "get / HTTP/1.1\r\n\r\n", NoMatch, "", "", "", "", "", false},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NoMatch, "", "", "", "", "", false},
		{"http/0.9", "GET /\r\n", NoMatch, "", "", "", "", "", false},
		{"two spaces", "GET  / HTTP/1.1\r\n", NoMatch, "", "", "", "", "", false},
		{"msnp", "VER 1 MSNP18 CVR0\r\n", NoMatch, "", "", "", "", "", false},
		{"tls", "\x16\x03\x01\x00\xc5\x01", NoMatch, "", "", "", "", "", false},
		{"method too long", strings.Repeat("A", 30) + " / HTTP/1.1\r\n", NoMatch, "", "", "", "", "", false},
		{"bad version digit", "GET / HTTP/1.x\r\n", NoMatch, "", "", "", "", "", false},
		{"CR without LF", "GET / HTTP/1.1\rX", NoMatch, "", "", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			r := ParseRequest([]byte(tt.in), &req)
			if r != tt.want {
				t.Fatalf("result %v, want %v", r, tt.want)
			}
			if r != Match {
				return
			}
			if string(req.Method) != tt.method || string(req.Target) != tt.target || string(req.Host) != tt.host ||
				string(req.ContentType) != tt.ctype || string(req.UserAgent) != tt.agent {
				t.Fatalf("got method %q target %q host %q ctype %q agent %q", req.Method, req.Target, req.Host, req.ContentType, req.UserAgent)
			}
			if IsGateway(&req) != tt.gateway {
				t.Fatalf("IsGateway = %v", !tt.gateway)
			}
		})
	}
}

// Prefixes of a complete head are NeedMore (or Match once the head is whole).
func TestParseRequestPrefixes(t *testing.T) {
	for _, in := range []string{gatewayOpen, connectReq, soapReq} {
		var req Request
		end := strings.Index(in, "\r\n\r\n") + 4
		for i := 0; i <= len(in); i++ {
			r := ParseRequest([]byte(in[:i]), &req)
			want := NeedMore
			if i >= end {
				want = Match
			}
			if r != want {
				t.Fatalf("prefix %d of %q: %v, want %v", i, in[:20], r, want)
			}
		}
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		want       Result
		status     int
		ctype      string
		msn, proxy bool
	}{
		{"gateway 200", gatewayResp, Match, 200, "application/x-msn-messenger", true, false},
		{"isa 407", proxy407, Match, 407, "text/html", false, true},
		{"403 bare LF", "HTTP/1.0 403 Forbidden\nContent-Type: text/html\n\n<html>", Match, 403, "text/html", false, false},
		{"no reason phrase", "HTTP/1.1 451\r\nx-msn-messenger: SessionID=1\r\n\r\n", Match, 451, "", true, false},
		{"empty reason", "HTTP/1.1 502 \r\n\r\n", Match, 502, "", false, false},
		{"prefix", "HTTP/1.1 20", NeedMore, 0, "", false, false},
		{"status line only", "HTTP/1.1 200 OK\r\n", NeedMore, 0, "", false, false},
		{"in reason", "HTTP/1.1 200 O", NeedMore, 0, "", false, false},
		{"ssh", "SSH-2.0-OpenSSH_8.9\r\n", NoMatch, 0, "", false, false},
		{"http/2", "HTTP/2 200\r\n", NoMatch, 0, "", false, false},
		{"status 099", "HTTP/1.1 099 x\r\n\r\n", NoMatch, 0, "", false, false},
		{"four digits", "HTTP/1.1 2000\r\n\r\n", NoMatch, 0, "", false, false},
		{"msnp", "VER 1 MSNP18\r\n", NoMatch, 0, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp Response
			r := ParseResponse([]byte(tt.in), &resp)
			if r != tt.want {
				t.Fatalf("result %v, want %v", r, tt.want)
			}
			if r != Match {
				return
			}
			if resp.Status != tt.status || string(resp.ContentType) != tt.ctype || resp.XMSNMessenger != tt.msn || resp.ProxyAuthenticate != tt.proxy {
				t.Fatalf("got %+v (ctype %q)", resp, resp.ContentType)
			}
		})
	}
	// over MaxHead with the status line complete: Match
	var resp Response
	big := "HTTP/1.1 200 OK\r\n" + strings.Repeat("Set-Cookie: a=b\r\n", MaxHead/17+1)
	if r := ParseResponse([]byte(big), &resp); r != Match || resp.Status != 200 {
		t.Fatalf("big head: %v %d", r, resp.Status)
	}
	if r := ParseResponse([]byte("HTTP/1.1 200 "+strings.Repeat("x", MaxHead)), &resp); r != NoMatch {
		t.Fatalf("status line over MaxHead: %v", r)
	}
}

func TestIsGateway(t *testing.T) {
	if IsGateway(nil) {
		t.Fatal("nil request")
	}
	for _, tt := range []struct {
		target, ctype string
		want          bool
	}{
		{"/gateway/gateway.dll?Action=open", "", true},
		{"http://207.46.109.14/gateway/gateway.dll?Action=poll&SessionID=1", "", true},
		{"/", "application/x-msn-messenger", true},
		{"/", "Application/X-MSN-Messenger ;charset=utf-8", true},
		{"/", "application/x-msn-messengers", false},
		{"/", "text/x-msmsgsinvite", false},
		{"/gateway/gateway.dl", "", false},
		{"/gateway.dll", "", false},
		{"//////gateway/gateway.dll", "", true},
	} {
		req := Request{Target: []byte(tt.target), ContentType: []byte(tt.ctype)}
		if got := IsGateway(&req); got != tt.want {
			t.Errorf("IsGateway(%q, %q) = %v", tt.target, tt.ctype, got)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"messenger.hotmail.com:1863": "messenger.hotmail.com",
		"login.live.com":             "login.live.com",
		"[2001:db8::1]:443":          "2001:db8::1",
		"[2001:db8::1]":              "2001:db8::1",
		"2001:db8::1":                "2001:db8::1",
		"64.4.44.39:1863":            "64.4.44.39",
		"":                           "",
		"[":                          "",
		"host:":                      "host",
	} {
		if got := HostOnly([]byte(in)); string(got) != want {
			t.Errorf("HostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTargetAuthority(t *testing.T) {
	for in, want := range map[string]string{
		"messenger.hotmail.com:1863": "messenger.hotmail.com:1863",
		"http://gateway.messenger.hotmail.com/gateway/gateway.dll?Action=open": "gateway.messenger.hotmail.com",
		"http://user:pw@[2001:db8::1]:8080?x":                                  "[2001:db8::1]:8080",
		"https://login.live.com":                                               "login.live.com",
		"/gateway/gateway.dll":                                                 "",
		"*":                                                                    "",
		"http://":                                                              "",
	} {
		if got := TargetAuthority([]byte(in)); string(got) != want {
			t.Errorf("TargetAuthority(%q) = %q, want %q", in, got, want)
		}
	}
}

// With NeedMore, what complete lines gave is already filled in.
func TestHTTPPartialFields(t *testing.T) {
	var resp Response
	if r := ParseResponse([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nVia: 1."), &resp); r != NeedMore ||
		resp.Status != 407 || !resp.ProxyAuthenticate {
		t.Fatalf("response: %v %+v", r, resp)
	}
	var req Request
	if r := ParseRequest([]byte("CONNECT messenger.hotmail.com:1863 HTTP/1.0\r\nHost: messenger.hot"), &req); r != NeedMore ||
		string(req.Method) != "CONNECT" || string(req.Target) != "messenger.hotmail.com:1863" || req.Host != nil {
		t.Fatalf("request: %v %+v", r, req)
	}
}
