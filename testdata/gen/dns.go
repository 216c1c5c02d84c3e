package main

// DNS queries from the client to the resolver. They are not flows in the
// expectations; a query for a Messenger name becomes a lookup.

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// messengerSuffixes are the names (and their subdomains) of the article's URL
// table and of the Messenger service hosts in hosts-and-signatures.md.
var messengerSuffixes = []string{
	"login.live.com", "contacts.msn.com", "storage.msn.com", "c.msn.com", "messenger.msn.com",
	"g.msn.com", "crl.microsoft.com", "messenger.hotmail.com", "rsi.hotmail.com", "sqm.microsoft.com",
	"messenger.live.com", "rad.msn.com", "spaces.live.com", "sup.live.com",
}

func messengerName(name string) bool {
	for _, s := range messengerSuffixes {
		if name == s || strings.HasSuffix(name, "."+s) {
			return true
		}
	}
	return false
}

var rcodeNames = map[layers.DNSResponseCode]string{
	layers.DNSResponseCodeNoErr: "NOERROR", layers.DNSResponseCodeNXDomain: "NXDOMAIN",
	layers.DNSResponseCodeServFail: "SERVFAIL", layers.DNSResponseCodeRefused: "REFUSED",
}

// resolve looks name up and answers with addr (A for IPv4, AAAA for IPv6).
func (c *capture) resolve(name, addr string) {
	a := netip.MustParseAddr(addr)
	c.dns(name, qtypeOf(a), layers.DNSResponseCodeNoErr, rr(name, a))
}

// resolveCNAME answers name with a CNAME to cname, and cname's address.
func (c *capture) resolveCNAME(name, cname, addr string) {
	a := netip.MustParseAddr(addr)
	cn := layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN,
		TTL: 3600, CNAME: []byte(cname)}
	c.dns(name, qtypeOf(a), layers.DNSResponseCodeNoErr, cn, rr(cname, a))
}

// dnsFail looks name up (A) and gets rcode with no answers.
func (c *capture) dnsFail(name string, rcode layers.DNSResponseCode) {
	c.dns(name, layers.DNSTypeA, rcode)
}

func qtypeOf(a netip.Addr) layers.DNSType {
	if a.Is4() {
		return layers.DNSTypeA
	}
	return layers.DNSTypeAAAA
}

func rr(name string, a netip.Addr) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: qtypeOf(a), Class: layers.DNSClassIN,
		TTL: 300, IP: net.IP(a.AsSlice())}
}

// dns is one query from the client to the resolver and its response.
func (c *capture) dns(name string, qtype layers.DNSType, rcode layers.DNSResponseCode, answers ...layers.DNSResourceRecord) {
	u := c.udpNoFlow(netip.AddrPortFrom(resolver, 53), c.nextPort())
	c.dnsID++
	q := layers.DNSQuestion{Name: []byte(name), Type: qtype, Class: layers.DNSClassIN}
	query := &layers.DNS{ID: c.dnsID, RD: true, Questions: []layers.DNSQuestion{q}}
	u.send(serialize(query))
	resp := &layers.DNS{ID: c.dnsID, QR: true, RD: true, RA: true, ResponseCode: rcode,
		Questions: []layers.DNSQuestion{q}, Answers: answers}
	u.recv(serialize(resp))

	if !messengerName(name) {
		return
	}
	for _, l := range c.lookups {
		if l.Name == name {
			return
		}
	}
	l := lookupExp{Name: name, Rcode: rcodeNames[rcode], Answers: []string{}, Outcome: ok}
	if rcode != layers.DNSResponseCodeNoErr {
		l.Outcome = dnsFailed
	}
	for _, a := range answers {
		switch a.Type {
		case layers.DNSTypeCNAME:
			l.Answers = append(l.Answers, string(a.CNAME))
		case layers.DNSTypeA, layers.DNSTypeAAAA:
			ip, _ := netip.AddrFromSlice(a.IP)
			ip = ip.Unmap()
			l.Answers = append(l.Answers, ip.String())
			if ip.IsUnspecified() || ip.IsLoopback() {
				l.Outcome = dnsSinkhole
			}
		}
	}
	c.lookups = append(c.lookups, l)
}
