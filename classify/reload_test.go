package classify

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify/inspect/inspecttest"
)

// reorderedRules is the k-th of a chain of rule tables, each a superset of
// the one before: the default table with one feature and k URL rows added
// (the first one a second https://login.live.com), its feature lines
// reversed and its URL lines rotated when k is odd, so that every feature's
// bit and every row's index moves at each step. The added rows match
// nothing that the default table does not match better.
func reorderedRules(t *testing.T, k int) *Rules {
	t.Helper()
	var features, urls, rest []string
	for _, l := range strings.Split(string(defaultRules), "\n") {
		switch {
		case strings.HasPrefix(l, "feature "):
			features = append(features, l)
		case strings.HasPrefix(l, "url "):
			urls = append(urls, l)
		default:
			rest = append(rest, l)
		}
	}
	if k%2 == 1 {
		slices.Reverse(features)
		// Rotated, not reversed: rows equally specific for a name (http
		// and https login.live.com) keep their order, which breaks their tie.
		urls = append(urls[len(urls)/2:], urls[:len(urls)/2]...)
	}
	features = append(features, `feature id=revival name="Revival servers" ports="TCP 1863"`)
	for i := range k {
		if i == 0 {
			urls = append(urls, `url url=https://login.live.com features=revival source=practice function="added"`)
			continue
		}
		urls = append(urls, fmt.Sprintf(`url url=*.escargot%d.invalid:1863 features=signin,revival source=practice function="added"`, i))
	}
	lines := append(append(features, rest...), urls...)
	rs, err := ParseRules(fmt.Sprintf("chain%d.rules", k), strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// canonical renders a report without the order the rule table gives it,
// and without the features and URL rows the base table does not have
// (the rows added say so in their function text).
func canonical(r *Report, base *Rules) string {
	c := *r
	known := func(name string) bool {
		return slices.ContainsFunc(base.Features, func(f Feature) bool { return f.Name == name })
	}
	c.Features = slices.DeleteFunc(slices.Clone(r.Features), func(f FeatureResult) bool { return !known(f.Feature) })
	slices.SortFunc(c.Features, func(x, y FeatureResult) int { return cmp.Compare(x.Feature, y.Feature) })
	c.URLs = slices.DeleteFunc(slices.Clone(r.URLs), func(u URLResult) bool { return u.Function == "added" })
	slices.SortStableFunc(c.URLs, func(x, y URLResult) int { return cmp.Compare(x.URL, y.URL) })
	c.Flows = slices.Clone(r.Flows)
	for i := range c.Flows {
		c.Flows[i].Features = slices.Sorted(slices.Values(c.Flows[i].Features))
	}
	c.Lookups = slices.Clone(r.Lookups)
	for i := range c.Lookups {
		c.Lookups[i].Features = slices.Sorted(slices.Values(c.Lookups[i].Features))
	}
	c.Hints = slices.Clone(r.Hints)
	slices.SortStableFunc(c.Hints, func(x, y Hint) int {
		return cmp.Or(cmp.Compare(x.Feature, y.Feature), cmp.Compare(x.Text, y.Text))
	})
	b, _ := json.MarshalIndent(&c, "", " ")
	return string(b)
}

// TestSetRulesKeepsCounts: reloads to tables that reorder the features and
// the URL rows and add rows that match nothing change no count, outcome,
// attribution, lookup or hint, whenever they come (seven per capture here,
// with a snapshot before each), on every generated capture.
func TestSetRulesKeepsCounts(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.expect.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	base := Default()
	for _, ef := range files {
		path := strings.TrimSuffix(ef, ".expect.json")
		for _, maxNames := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/maxnames=%d", filepath.Base(path), maxNames), func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.AllFlows = true
				cfg.IdleTimeout = time.Second // flows are judged before the reloads too
				// One name remembered: open flows hold endpoints that the
				// learned map has forgotten.
				cfg.MaxNames = maxNames
				want, err := auditFile(t, path, cfg)
				if err != nil {
					t.Fatal(err)
				}
				src, err := capture.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				a := NewAuditor(cfg)
				var p capture.Packet
				const steps = 8
				n, k := want.Capture.Packets, 1
				for i := uint64(0); src.Next(&p) == nil; i++ {
					if k < steps && i >= uint64(k)*n/steps {
						a.Snapshot(nil)
						if err := a.SetRules(reorderedRules(t, k)); err != nil {
							t.Fatal(err)
						}
						k++
					}
					a.Packet(&p)
				}
				got := a.Report([]string{path}, want.Capture.Truncated)
				if got.Rules != base.Title || len(got.Features) != len(base.Features)+1 || len(got.URLs) != len(base.URLs)+steps-1 {
					t.Fatalf("after the reloads: rules %q, %d features, %d URL rows", got.Rules, len(got.Features), len(got.URLs))
				}
				if cw, cg := canonical(want, base), canonical(got, base); cw != cg {
					t.Errorf("the reloads changed the report:\nwithout:\n%s\nwith:\n%s", cw, cg)
				}
			})
		}
	}
}

// tlsFlow feeds a TLS connection to 198.51.100.80:443 from client port
// sport, named by its ClientHello's SNI, with a server answer.
func tlsFlow(t *testing.T, a *Auditor, ts int64, sport uint16, hello []byte) {
	t.Helper()
	const cli, srv = "192.0.2.10", "198.51.100.80"
	v4 := func(src, dst string) (*layers.Ethernet, *layers.IPv4) {
		return eth(layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolTCP)
	}
	e, ip := v4(cli, srv)
	feed(t, a, ts, e, ip, tcpSYN(sport, 443))
	e, ip = v4(srv, cli)
	feed(t, a, ts+1e6, e, ip, &layers.TCP{SrcPort: 443, DstPort: layers.TCPPort(sport), Seq: 5000, Ack: 1001, SYN: true, ACK: true, Window: 65535})
	e, ip = v4(cli, srv)
	feed(t, a, ts+2e6, e, ip, &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 443, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 65535}, gopacket.Payload(hello))
	e, ip = v4(srv, cli)
	feed(t, a, ts+3e6, e, ip, &layers.TCP{SrcPort: 443, DstPort: layers.TCPPort(sport), Seq: 5001, Ack: 1001 + uint32(len(hello)), ACK: true, PSH: true, Window: 65535},
		gopacket.Payload("\x16\x03\x03\x00\x04\x02\x00\x00\x00"))
}

// TestSetRulesAttributesNewHosts: a host that only the new rules name is
// attributed in the flows judged after the reload (the open one and a new
// one), not in the flow judged before it.
func TestSetRulesAttributesNewHosts(t *testing.T) {
	hello := inspecttest.ClientHello(t, "chat.escargot.example")
	const row = "https://*.escargot.example"
	cfg := DefaultConfig()
	cfg.AllFlows = true
	a := NewAuditor(cfg)
	tlsFlow(t, a, 1*sec, 40001, hello)
	a.Advance(1*sec + int64(cfg.IdleTimeout) + 2*sec) // the first flow is judged, under the old rules
	if s := a.Stats(); s.Open != 0 {
		t.Fatalf("%d flows still open", s.Open)
	}
	tlsFlow(t, a, 200*sec, 40002, hello) // open at the reload

	var buf bytes.Buffer
	buf.Write(defaultRules)
	buf.WriteString("\nurl url=" + row + ` features=signin source=practice function="Escargot"` + "\n")
	rs, err := ParseRules("escargot.rules", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetRules(rs); err != nil {
		t.Fatal(err)
	}
	tlsFlow(t, a, 201*sec, 40003, hello) // after it
	r := a.Report(nil, false)

	urls := map[string]string{}
	for _, f := range r.Flows {
		if f.Host == "chat.escargot.example" {
			urls[f.Client] = f.URL + " " + f.Evidence
		}
	}
	want := map[string]string{"192.0.2.10:40001": " ", "192.0.2.10:40002": row + " host", "192.0.2.10:40003": row + " host"}
	if !maps(urls, want) {
		t.Errorf("flows' rows: %v, want %v", urls, want)
	}
	u := r.URLs[len(r.URLs)-1]
	if u.URL != row || u.Flows != 2 || u.OK != 2 || u.Verdict != VerdictOK {
		t.Errorf("the new row: %+v", u)
	}
	if f := r.Features[0]; f.Flows != 2 || f.OK != 2 || f.Evidence != "host chat.escargot.example" {
		t.Errorf("sign-in: %+v", f)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSetRulesRefusesDrops: a table without a feature or a URL row of the
// one in use is refused, and the auditor goes on with its rules.
func TestSetRulesRefusesDrops(t *testing.T) {
	parse := func(text string) *Rules {
		t.Helper()
		rs, err := ParseRules("t.rules", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	const head = "title text=old\nfeature id=a name=A\nfeature id=b name=B\nport proto=tcp port=1863 class=distinctive features=a\n"
	old := parse(head + "url url=x.example:1863 features=a\nurl url=x.example:1863 features=b\n")
	a := NewAuditor(Config{Rules: old})
	synTo(t, a, 1*sec) // tcp 1863: feature a
	a.Advance(200 * sec)

	for _, c := range []struct {
		text string
		want RulesChangeError
	}{
		{"title text=new\nfeature id=a name=A\nurl url=x.example:1863 features=a\nurl url=x.example:1863\n", RulesChangeError{"feature", "b"}},
		{"title text=new\n" + head[15:] + "url url=x.example:1863 features=a\n", RulesChangeError{"URL row", "x.example:1863"}},
	} {
		err := a.SetRules(parse(c.text))
		var ce *RulesChangeError
		if !errors.As(err, &ce) || *ce != c.want {
			t.Errorf("SetRules: %v, want %+v", err, c.want)
		}
	}
	if err := a.SetRules(nil); err == nil {
		t.Error("SetRules(nil): no error")
	}
	r := a.Report(nil, false)
	if r.Rules != "old" || len(r.Features) != 2 || r.Features[0].Failed+r.Features[0].Flows == 0 {
		t.Errorf("after refused reloads: %q, %+v", r.Rules, r.Features)
	}
	// Renaming and reordering features, changing ports and adding a row
	// are fine; what was judged keeps its feature.
	a = NewAuditor(Config{Rules: old})
	synTo(t, a, 1*sec)
	a.Advance(200 * sec) // judged before the reload
	if err := a.SetRules(parse("title text=new\nfeature id=b name=B\nfeature id=a name=Renamed\nport proto=tcp port=5222 class=distinctive features=b\n" +
		"url url=x.example:1863 features=a\nurl url=y.example:443 features=a\nurl url=x.example:1863 features=b\n")); err != nil {
		t.Fatal(err)
	}
	r = a.Report(nil, false)
	if r.Rules != "new" || r.Features[1].Feature != "Renamed" || r.Features[1].Flows != 1 || r.Features[0].Flows != 0 {
		t.Errorf("after the reload: %q, %+v", r.Rules, r.Features)
	}
}
