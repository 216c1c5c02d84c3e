package inspect

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func addrs(m *DNSMessage) []string {
	var s []string
	for _, a := range m.Addrs[:m.NAddrs] {
		s = append(s, a.String())
	}
	return s
}

func TestParseDNS(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		id       uint16
		resp     bool
		rcode    string
		qname    string
		qtype    uint16
		addrs    string
		nAnswers int
		cnames   int
	}{
		{"query", dnsMessengerQuery, 0x2b1f, false, "NOERROR", "messenger.hotmail.com", 1, "", 0, 0},
		{"cname chain, mixed-case question", dnsMessengerResp, 0x2b1f, true, "NOERROR", "messenger.hotmail.com", 1, "65.54.239.80 65.54.239.140", 4, 2},
		{"nxdomain", dnsNXDomain, 0x7c01, true, "NXDOMAIN", "config.messenger.msn.com", 1, "", 0, 0},
		{"sinkhole", dnsSinkhole, 0x7c02, true, "NOERROR", "login.live.com", 1, "0.0.0.0", 1, 0},
		{"aaaa via cname", dnsAAAA, 0x11aa, true, "NOERROR", "echo.edge.messenger.live.com", 28, "2001:db8::7001", 2, 1},
		{"answers out of order", buildDNS(1, 0x8180, "c.msn.com", 1, []dnsRR{
			{name: "c.msn.com.nsatc.net", typ: 1, rdata: ip4(65, 55, 5, 170)},
			{name: "c.atdmt.com", typ: 5, target: "c.msn.com.nsatc.net"},
			{name: "c.msn.com", typ: 5, target: "c.atdmt.com"},
		}), 1, true, "NOERROR", "c.msn.com", 1, "65.55.5.170", 3, 2},
		{"unrelated records ignored", buildDNS(2, 0x8180, "g.msn.com", 1, []dnsRR{
			{name: "evil.example", typ: 1, rdata: ip4(6, 6, 6, 6)},
			{name: "g.msn.com", typ: 1, rdata: ip4(65, 55, 17, 25)},
			{name: "other.example", typ: 5, target: "g.msn.com"},
			{name: "G.MSN.COM", typ: 1, class: 0x8001, rdata: ip4(65, 55, 17, 26)},
			{name: "g.msn.com", typ: 1, class: 3, rdata: ip4(1, 1, 1, 1)},
			{name: "g.msn.com", typ: 1, rdata: []byte{1, 2, 3}},
			{name: "g.msn.com", typ: 16, rdata: []byte("\x05hello")},
		}), 2, true, "NOERROR", "g.msn.com", 1, "65.55.17.25 65.55.17.26", 7, 0},
		{"cname loop", buildDNS(3, 0x8180, "a.example", 1, []dnsRR{
			{name: "a.example", typ: 5, target: "b.example"},
			{name: "b.example", typ: 5, target: "a.example"},
			{name: "b.example", typ: 1, rdata: ip4(192, 0, 2, 1)},
		}), 3, true, "NOERROR", "a.example", 1, "192.0.2.1", 3, 2},
		{"servfail", buildDNS(4, 0x8182, "rsi.hotmail.com", 1, nil), 4, true, "SERVFAIL", "rsi.hotmail.com", 1, "", 0, 0},
		{"refused", buildDNS(5, 0x8105, "ows.messenger.msn.com", 28, nil), 5, true, "REFUSED", "ows.messenger.msn.com", 28, "", 0, 0},
		{"root question", buildDNS(6, 0x0100, "", 2, nil), 6, false, "NOERROR", "", 2, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m DNSMessage
			if err := ParseDNS(tt.in, &m); err != nil {
				t.Fatal(err)
			}
			if m.ID != tt.id || m.Response != tt.resp || RCodeName(m.RCode) != tt.rcode || string(m.Name()) != tt.qname ||
				m.QType != tt.qtype || strings.Join(addrs(&m), " ") != tt.addrs || m.NAnswers != tt.nAnswers || m.CNAMEs != tt.cnames {
				t.Fatalf("got id %#x resp %v rcode %s name %q qtype %d addrs %v answers %d cnames %d",
					m.ID, m.Response, RCodeName(m.RCode), m.Name(), m.QType, addrs(&m), m.NAnswers, m.CNAMEs)
			}
			// over TCP
			tcp := binary.BigEndian.AppendUint16(nil, uint16(len(tt.in)))
			tcp = append(tcp, tt.in...)
			var m2 DNSMessage
			if err := ParseDNSTCP(tcp, &m2); err != nil || m2 != m {
				t.Fatalf("tcp: %v, %+v", err, m2)
			}
		})
	}
}

func TestParseDNSLongChain(t *testing.T) {
	// a chain of 20 CNAMEs: the first 15 are followed (16 names), then
	// addresses for names past the cap are not attributed; no panic.
	var rrs []dnsRR
	for i := 0; i < 20; i++ {
		rrs = append(rrs, dnsRR{name: "n" + itoa(i) + ".example", typ: 5, target: "n" + itoa(i+1) + ".example"})
	}
	rrs = append(rrs, dnsRR{name: "n20.example", typ: 1, rdata: ip4(192, 0, 2, 20)})
	rrs = append(rrs, dnsRR{name: "n3.example", typ: 1, rdata: ip4(192, 0, 2, 3)})
	var m DNSMessage
	if err := ParseDNS(buildDNS(9, 0x8180, "n0.example", 1, rrs), &m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(addrs(&m), " "); got != "192.0.2.3" || m.CNAMEs != 16 || m.NAnswers != 22 {
		t.Fatalf("addrs %q cnames %d answers %d", got, m.CNAMEs, m.NAnswers)
	}
	// more than 16 addresses: the rest are dropped
	rrs = nil
	for i := 0; i < 40; i++ {
		rrs = append(rrs, dnsRR{name: "many.example", typ: 1, rdata: ip4(198, 51, 100, byte(i))})
	}
	if err := ParseDNS(buildDNS(10, 0x8180, "many.example", 1, rrs), &m); err != nil {
		t.Fatal(err)
	}
	if m.NAddrs != 16 || m.Addrs[15] != netip.MustParseAddr("198.51.100.15") || m.NAnswers != 40 {
		t.Fatalf("NAddrs %d last %v answers %d", m.NAddrs, m.Addrs[15], m.NAnswers)
	}
}

// header writes a 12-byte header with the given counts.
func header(qd, an int) []byte {
	b := []byte{0xab, 0xcd, 0x81, 0x80, 0, byte(qd), 0, byte(an), 0, 0, 0, 0}
	return b
}

func TestParseDNSMalformed(t *testing.T) {
	q := func(name ...byte) []byte { return append(append(header(1, 0), name...), 0, 1, 0, 1) }
	// pointer chain: name_k = "\x01a" + pointer(name_{k-1}), name_0 = the
	// question, stored in the RDATA of an unknown-type answer; a second
	// answer's owner points at name_n, so reading it follows n+1 pointers.
	chain := func(n int) []byte {
		b := append(header(1, 2), 1, 'x', 0, 0, 1, 0, 1) // question "x" at 12
		b = append(b, 0xc0, 12, 0, 99, 0, 1, 0, 0, 0, 0) // answer 1 owner → 12, type 99
		lenAt := len(b)
		b = append(b, 0, 0)
		prev := 12
		var last int
		for k := 0; k < n; k++ {
			last = len(b)
			b = append(b, 1, 'a', 0xc0|byte(prev>>8), byte(prev))
			prev = last
		}
		binary.BigEndian.PutUint16(b[lenAt:], uint16(len(b)-lenAt-2))
		b = append(b, 0xc0|byte(last>>8), byte(last), 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, 1)
		return b
	}
	long := []byte{}
	for i := 0; i < 5; i++ {
		long = append(long, 63)
		long = append(long, bytes.Repeat([]byte{'a'}, 63)...)
	}
	long = append(long, 0)
	tests := []struct {
		name string
		in   []byte
	}{
		{"short header", []byte{1, 2, 3}},
		{"question runs out", q(9, 'm', 'e', 's', 's')},
		{"no root label", append(header(1, 0), 3, 'a', 'b', 'c')},
		{"question without type", append(header(1, 0), 1, 'a', 0, 0)},
		{"self pointer", q(0xc0, 12)},
		{"forward pointer", append(append(header(1, 0), 0xc0, 14), 1, 'a', 0, 0, 1, 0, 1)},
		{"pointer into own run", q(1, 'a', 0xc0, 12)},
		{"truncated pointer", append(header(1, 0), 0xc0)},
		{"extended label type", q(0x41, 'a', 0)},
		{"reserved label type", q(0x80, 'a', 0)},
		{"name over 255 bytes", q(long...)},
		{"65 pointer hops", chain(64)},
		{"answer runs out", bytes.Clone(dnsSinkhole[:len(dnsSinkhole)-2])},
		{"rdlength past end", func() []byte { b := bytes.Clone(dnsSinkhole); b[len(b)-5] = 9; return b }()},
		{"ancount too high", func() []byte { b := bytes.Clone(dnsMessengerResp); b[7]++; return b }()},
		{"cname target runs past rdata", buildDNS(1, 0x8180, "a.example", 1, []dnsRR{{name: "a.example", typ: 5, rdata: []byte{3, 'b', 'c'}}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m DNSMessage
			if err := ParseDNS(tt.in, &m); err != ErrMalformedDNS {
				t.Fatalf("err = %v, want ErrMalformedDNS", err)
			}
		})
	}
	var m DNSMessage
	if err := ParseDNS(chain(63), &m); err != nil || m.NAnswers != 2 {
		t.Fatalf("64 hops: %v, answers %d", err, m.NAnswers)
	}
	// partial results survive a fault in the answers
	b := bytes.Clone(dnsMessengerResp)
	b[7]++
	if err := ParseDNS(b, &m); err != ErrMalformedDNS || string(m.Name()) != "messenger.hotmail.com" || m.RCode != 0 {
		t.Fatalf("partial: %v %q", err, m.Name())
	}
}

func TestParseDNSTCPTruncated(t *testing.T) {
	var m DNSMessage
	for _, in := range [][]byte{nil, {0}, {0, 40, 1, 2, 3}} {
		if err := ParseDNSTCP(in, &m); err != ErrTruncatedDNS {
			t.Fatalf("ParseDNSTCP(% x) = %v", in, err)
		}
	}
	if err := ParseDNSTCP([]byte{0, 3, 1, 2, 3}, &m); err != ErrMalformedDNS {
		t.Fatalf("short message: %v", err)
	}
}

func TestRCodeName(t *testing.T) {
	for rc, want := range map[uint8]string{0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
		9: "NOTAUTH", 12: "RCODE12", 15: "RCODE15", 255: "RCODE255"} {
		if got := RCodeName(rc); got != want {
			t.Errorf("RCodeName(%d) = %q, want %q", rc, got, want)
		}
	}
}

func TestIsSinkhole(t *testing.T) {
	for s, want := range map[string]bool{
		"0.0.0.0": true, "127.0.0.1": true, "127.255.0.9": true, "::": true, "::1": true,
		"::ffff:0.0.0.0": true, "::ffff:127.0.0.1": true, "fe80::1%eth0": false, "::1%lo": true,
		"65.54.239.80": false, "10.0.0.1": false, "2001:db8::1": false, "::2": false, "128.0.0.1": false,
	} {
		if got := IsSinkhole(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsSinkhole(%s) = %v", s, got)
		}
	}
	if IsSinkhole(netip.Addr{}) {
		t.Error("zero Addr")
	}
}
