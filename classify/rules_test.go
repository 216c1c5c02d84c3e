package classify

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultRulesCoverTheArticle(t *testing.T) {
	rs := Default()
	want := []string{"Sign in to the Messenger service", "Network detection", "Voice and video", "Audio (legacy)",
		"Webcam and video conversations", "File transfer", "Whiteboard and application sharing", "Remote Assistance",
		"Windows Live Call", "Games"}
	if len(rs.Features) != len(want) {
		t.Fatalf("%d features, want %d", len(rs.Features), len(want))
	}
	for i, f := range rs.Features {
		if f.Name != want[i] {
			t.Errorf("feature %d is %q, want %q", i, f.Name, want[i])
		}
	}
	// The article's odd "UDP 5004 - 65525" for Windows Live Call is kept.
	found := false
	for _, p := range rs.Ports {
		found = found || p.UDP && !p.TCP && p.Lo == 5004 && p.Hi == 65525 && p.Class == Range
	}
	if !found {
		t.Error("no UDP 5004-65525 range for Windows Live Call")
	}
	for _, u := range rs.URLs {
		if u.Source == "" || u.Function == "" {
			t.Errorf("URL row %s lacks source or function", u.URL)
		}
	}
}

func TestMatchHost(t *testing.T) {
	rs := Default()
	tests := []struct {
		host string
		port uint16
		want string
	}{
		{"login.live.com", 443, "https://login.live.com"},
		{"LOGIN.live.com.", 80, "http://login.live.com"},
		{"local-bay.contacts.msn.com", 443, "https://*.contacts.msn.com"},
		{"contacts.msn.com", 443, "https://*.contacts.msn.com"},
		{"config.messenger.msn.com", 80, "http://config.messenger.msn.com"},
		{"other.messenger.msn.com", 80, "http://*.messenger.msn.com"},
		{"messenger.hotmail.com", 1863, "messenger.hotmail.com:1863"},
		{"by2msg3010710.by2.gateway.edge.messenger.live.com", 80, "http://*.gateway.edge.messenger.live.com"},
		{"echo.edge.messenger.live.com", 7001, "http://*.messenger.live.com"},
		{"www.example.com", 443, ""},
		{"xmessenger.msn.com", 80, ""},
		{"msn.com", 80, ""},
	}
	for _, tt := range tests {
		got := ""
		if i := rs.MatchHost(tt.host, tt.port); i >= 0 {
			got = rs.URLs[i].URL
		}
		if got != tt.want {
			t.Errorf("MatchHost(%q, %d) = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

func TestMatchPort(t *testing.T) {
	rs := Default()
	signin := FeatureSet(1) // feature 0
	if c := rs.MatchPort(true, 1863); c[Distinctive] != signin {
		t.Errorf("TCP 1863 distinctive = %b, want sign-in", c[Distinctive])
	}
	if c := rs.MatchPort(true, 443); c[Distinctive] != 0 || c[Shared] == 0 {
		t.Errorf("TCP 443 = %v, want shared only", c)
	}
	if c := rs.MatchPort(false, 1863); c[Distinctive] != 0 || c[Range] == 0 {
		t.Errorf("UDP 1863 = %v, want a wide range only", c)
	}
	if c := rs.MatchPort(true, 22); c != [3]FeatureSet{} {
		t.Errorf("TCP 22 = %v, want nothing", c)
	}
}

func TestParseRulesErrorsNameLineAndField(t *testing.T) {
	base := "title text=x\nfeature id=signin name=\"Sign in\" ports=\"TCP 1863\"\n"
	tests := []struct{ text, want string }{
		{base + "port proto=tcp port=18x63 class=distinctive features=signin\n", "r.rules:3: field port:"},
		{base + "port proto=sctp port=1 class=distinctive features=signin\n", "r.rules:3: field proto:"},
		{base + "port proto=tcp port=1 class=maybe features=signin\n", "r.rules:3: field class:"},
		{base + "port proto=tcp port=1 class=range features=nosuch\n", "r.rules:3: field features: unknown feature \"nosuch\""},
		{base + "url url=ftp://x.example features=signin\n", "r.rules:3: field url:"},
		{base + "url url=http://x.example colour=red\n", "r.rules:3: field colour: unknown field"},
		{base + "frobnicate a=b\n", "r.rules:3: unknown directive"},
		{base + "feature id=signin name=again\n", "r.rules:3: field id: feature \"signin\" defined twice"},
		{base + "feature id=x name=\"unterminated\n", "r.rules:3: field name: unterminated"},
		{base + "note outcome=bogus text=x\n", "r.rules:3: field outcome:"},
		{"title text=x\n", "no feature lines"},
	}
	for _, tt := range tests {
		_, err := ParseRules("r.rules", strings.NewReader(tt.text))
		var re *RulesError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRules(%q) error = %v, want one containing %q", tt.text, err, tt.want)
		}
	}
}

func TestParseRulesRevivalServer(t *testing.T) {
	text := string(defaultRules) + "url url=*.escargot.chat:1863 features=signin source=practice function=\"Escargot NS\"\n"
	rs, err := ParseRules("escargot.rules", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	i := rs.MatchHost("m1.escargot.chat", 1863)
	if i < 0 || rs.URLs[i].Features != 1 {
		t.Fatalf("m1.escargot.chat:1863 matched row %d", i)
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add(string(defaultRules))
	f.Add("title text=x\nfeature id=a name=b\nport proto=tcp port=1-2 class=range features=a\n")
	f.Add("url url=\"http://*.x\\\"y\" features=a")
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := ParseRules("fuzz.rules", strings.NewReader(text))
		if err == nil {
			rs.MatchHost("a.b.c", 80)
			rs.MatchPort(true, 80)
		}
	})
}
