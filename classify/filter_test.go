package classify

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/msnaudit/msnaudit/capture"
)

// filterVM assembles the socket filter for a link type into bpf's VM.
func filterVM(t *testing.T, rs *Rules, link capture.LinkType) *bpf.VM {
	t.Helper()
	raw, err := SocketFilterFor(rs, link)
	if err != nil {
		t.Fatal(err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("the filter has instructions bpf cannot decode")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func tcpSeg(sport, dport uint16, flags string) *layers.TCP {
	l := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 1, Window: 65535}
	for _, f := range flags {
		switch f {
		case 'S':
			l.SYN = true
		case 'A':
			l.ACK = true
		case 'P':
			l.PSH = true
		case 'R':
			l.RST = true
		case 'F':
			l.FIN = true
		}
	}
	return l
}

func udpDgram(sport, dport uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
}

var payload = gopacket.Payload("0123456789abcdef")

// filterCase is one packet, described from the IP header on, and whether
// the filter keeps it.
type filterCase struct {
	name string
	keep bool
	ip   []gopacket.SerializableLayer // from the IP header on
}

func v4(proto layers.IPProtocol, rest ...gopacket.SerializableLayer) []gopacket.SerializableLayer {
	return append([]gopacket.SerializableLayer{ip4("192.0.2.10", "198.51.100.20", proto)}, rest...)
}

func v6(next layers.IPProtocol, rest ...gopacket.SerializableLayer) []gopacket.SerializableLayer {
	return append([]gopacket.SerializableLayer{ip6("2001:db8::10", "2001:db8::20", next)}, rest...)
}

// ruleCases derives kept and dropped cases from every port rule of rs.
func ruleCases(rs *Rules) []filterCase {
	var cs []filterCase
	for _, p := range rs.Ports {
		port := p.Lo
		for _, tcp := range []bool{true, false} {
			if tcp && !p.TCP || !tcp && !p.UDP {
				continue
			}
			keep := p.Class != Range
			name := fmt.Sprintf("%s/%d-%d %s", map[bool]string{true: "tcp", false: "udp"}[tcp], p.Lo, p.Hi, p.Class)
			if tcp {
				cs = append(cs,
					filterCase{name + " to, payload", keep, v4(layers.IPProtocolTCP, tcpSeg(49200, port, "PA"), payload)},
					filterCase{name + " from, payload", keep, v4(layers.IPProtocolTCP, tcpSeg(port, 49200, "PA"), payload)},
					filterCase{name + " to, IPv6 payload", keep, v6(layers.IPProtocolTCP, tcpSeg(49200, port, "PA"), payload)},
					filterCase{name + " SYN", true, v4(layers.IPProtocolTCP, tcpSeg(49200, port, "S"))},
					filterCase{name + " SYN-ACK", true, v4(layers.IPProtocolTCP, tcpSeg(port, 49200, "SA"))},
					filterCase{name + " RST", true, v4(layers.IPProtocolTCP, tcpSeg(port, 49200, "RA"))},
					filterCase{name + " FIN", true, v6(layers.IPProtocolTCP, tcpSeg(49200, port, "FA"))},
				)
			} else {
				cs = append(cs,
					filterCase{name + " to", keep, v4(layers.IPProtocolUDP, udpDgram(49200, port), payload)},
					filterCase{name + " from", keep, v4(layers.IPProtocolUDP, udpDgram(port, 49200), payload)},
					filterCase{name + " to, IPv6", keep, v6(layers.IPProtocolUDP, udpDgram(49200, port), payload)},
				)
			}
			if p.Hi < 65535 && p.Class != Range {
				// Just past a distinctive or shared port (and past every
				// other kept port): dropped unless it is a handshake.
				next := p.Hi + 1
				if !keptPort(rs, tcp, next) {
					if tcp {
						cs = append(cs, filterCase{fmt.Sprintf("tcp/%d payload", next), false, v4(layers.IPProtocolTCP, tcpSeg(49200, next, "PA"), payload)})
					} else {
						cs = append(cs, filterCase{fmt.Sprintf("udp/%d", next), false, v4(layers.IPProtocolUDP, udpDgram(49200, next), payload)})
					}
				}
			}
		}
	}
	return cs
}

// keptPort is the filter's port rule, written independently of filterPorts.
func keptPort(rs *Rules, tcp bool, port uint16) bool {
	if port == 53 {
		return true
	}
	c := rs.MatchPort(tcp, port)
	if c[Distinctive] != 0 || c[Shared] != 0 {
		return true
	}
	for _, u := range rs.URLs {
		if tcp && u.Port == port {
			return true
		}
	}
	return false
}

func fixedCases() []filterCase {
	opts := ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP)
	opts.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}}
	optsUDP := ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolUDP)
	optsUDP.Options = opts.Options
	frag := ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolUDP)
	frag.FragOffset = 185
	icmp := func(typ, code uint8) []gopacket.SerializableLayer {
		quoted := serializeBytes(ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcpSeg(49200, 3389, "S"))
		return v4(layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(quoted))
	}
	icmp6 := func(typ, code uint8) []gopacket.SerializableLayer {
		quoted := serializeBytes(ip6("2001:db8::10", "2001:db8::20", layers.IPProtocolTCP), tcpSeg(49200, 3389, "S"))
		l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
		return v6(layers.IPProtocolICMPv6, l, gopacket.Payload(append([]byte{0, 0, 0, 0}, quoted...)))
	}
	hop := &layers.IPv6HopByHop{}
	hop.NextHeader = layers.IPProtocolTCP
	hop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	return []filterCase{
		{"dns udp query", true, v4(layers.IPProtocolUDP, udpDgram(49200, 53), payload)},
		{"dns udp answer", true, v4(layers.IPProtocolUDP, udpDgram(53, 49200), payload)},
		{"dns tcp", true, v4(layers.IPProtocolTCP, tcpSeg(49200, 53, "PA"), payload)},
		{"dns ipv6", true, v6(layers.IPProtocolUDP, udpDgram(53, 49200), payload)},
		{"udp other", false, v4(layers.IPProtocolUDP, udpDgram(49200, 40000), payload)},
		{"udp 1863 is tcp only", false, v4(layers.IPProtocolUDP, udpDgram(49200, 1863), payload)},
		{"tcp 9 is udp only", false, v4(layers.IPProtocolTCP, tcpSeg(49200, 9, "PA"), payload)},
		{"tcp ack other", false, v4(layers.IPProtocolTCP, tcpSeg(49200, 40000, "A"))},
		{"tcp payload other", false, v6(layers.IPProtocolTCP, tcpSeg(40000, 49200, "PA"), payload)},
		{"tcp syn other", true, v4(layers.IPProtocolTCP, tcpSeg(49200, 40000, "S"))},
		{"tcp rst other ipv6", true, v6(layers.IPProtocolTCP, tcpSeg(40000, 49200, "R"))},
		{"ipv4 options tcp 1863", true, append([]gopacket.SerializableLayer{opts}, tcpSeg(49200, 1863, "PA"), payload)},
		{"ipv4 options tcp other", false, append([]gopacket.SerializableLayer{opts}, tcpSeg(49200, 40000, "PA"), payload)},
		{"ipv4 options udp 7001", true, append([]gopacket.SerializableLayer{optsUDP}, udpDgram(49200, 7001), payload)},
		{"ipv4 options udp other", false, append([]gopacket.SerializableLayer{optsUDP}, udpDgram(49200, 40000), payload)},
		{"ipv4 later fragment", false, []gopacket.SerializableLayer{frag, payload}},
		{"icmp unreachable admin", true, icmp(3, 13)},
		{"icmp port unreachable", true, icmp(3, 3)},
		{"icmp time exceeded", true, icmp(11, 0)},
		{"icmp parameter problem", true, icmp(12, 0)},
		{"icmp echo request", false, v4(layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload)},
		{"icmp echo reply", false, v4(layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0)}, payload)},
		{"icmpv6 unreachable admin", true, icmp6(1, 1)},
		{"icmpv6 packet too big", true, icmp6(2, 0)},
		{"icmpv6 time exceeded", true, icmp6(3, 0)},
		{"icmpv6 echo request", false, v6(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, payload)},
		{"icmpv6 neighbour solicitation", false, v6(layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}, payload)},
		{"ipv6 hop-by-hop accepted wholesale", true, v6(layers.IPProtocolIPv6HopByHop, hop, tcpSeg(49200, 40000, "PA"), payload)},
		{"gre", false, v4(layers.IPProtocolGRE, payload)},
	}
}

func serializeBytes(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// frame puts an IP packet behind a link header: "eth", "vlan", "qinq" or "raw".
func frame(t *testing.T, link string, ip []gopacket.SerializableLayer) []byte {
	t.Helper()
	etype := layers.EthernetTypeIPv4
	if _, ok := ip[0].(*layers.IPv6); ok {
		etype = layers.EthernetTypeIPv6
	}
	var ls []gopacket.SerializableLayer
	switch link {
	case "eth":
		ls = append(ls, eth(etype))
	case "vlan":
		ls = append(ls, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: etype})
	case "qinq":
		ls = append(ls, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 7, Type: etype})
	}
	return serialize(t, append(ls, ip...)...)
}

func TestSocketFilter(t *testing.T) {
	rs := Default()
	cases := append(ruleCases(rs), fixedCases()...)
	for _, link := range []string{"eth", "vlan", "qinq", "raw"} {
		lt := capture.LinkEthernet
		if link == "raw" {
			lt = capture.LinkRaw
		}
		vm := filterVM(t, rs, lt)
		for _, c := range cases {
			t.Run(link+"/"+c.name, func(t *testing.T) {
				pkt := frame(t, link, c.ip)
				n, err := vm.Run(pkt)
				if err != nil {
					t.Fatal(err)
				}
				if got := n > 0; got != c.keep {
					t.Errorf("kept = %v, want %v (%x)", got, c.keep, pkt)
				}
				if n > 0 && n != FilterSnapLen && n != len(pkt) {
					t.Errorf("kept %d bytes of %d", n, len(pkt))
				}
			})
		}
	}
}

func TestSocketFilterNonIP(t *testing.T) {
	vm := filterVM(t, Default(), capture.LinkEthernet)
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{192, 0, 2, 1},
		DstHwAddress: macB, DstProtAddress: []byte{192, 0, 2, 2}})
	for name, pkt := range map[string][]byte{"arp": arp, "short": {1, 2, 3}, "empty": {}} {
		if n, err := vm.Run(pkt); err != nil || n != 0 {
			t.Errorf("%s: kept %d bytes, err %v", name, n, err)
		}
	}
	raw := filterVM(t, Default(), capture.LinkRaw)
	if n, _ := raw.Run([]byte{0x50, 0, 0, 0}); n != 0 {
		t.Errorf("raw: an IP version 5 packet was kept")
	}
}

// A rules file's own ports and URL ports are kept, and its ranges are not.
func TestSocketFilterCustomRules(t *testing.T) {
	text := strings.Join([]string{
		`title text="revival"`,
		`feature id=signin name="Sign in" ports="TCP 1864"`,
		`port proto=tcp port=1864 class=distinctive features=signin`,
		`port proto=udp port=3478-3481 class=shared features=signin`,
		`port proto=tcp,udp port=20000-30000 class=range features=signin`,
		`url url=https://m1.example.chat:8443 features=signin source=practice function="x"`,
	}, "\n")
	rs, err := ParseRules("revival.rules", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	vm := filterVM(t, rs, capture.LinkEthernet)
	for _, c := range []filterCase{
		{"tcp 1864", true, v4(layers.IPProtocolTCP, tcpSeg(49200, 1864, "PA"), payload)},
		{"tcp 1863 is not in these rules", false, v4(layers.IPProtocolTCP, tcpSeg(49200, 1863, "PA"), payload)},
		{"udp 3480", true, v4(layers.IPProtocolUDP, udpDgram(49200, 3480), payload)},
		{"udp 3482", false, v4(layers.IPProtocolUDP, udpDgram(49200, 3482), payload)},
		{"udp range", false, v4(layers.IPProtocolUDP, udpDgram(49200, 25000), payload)},
		{"url port 8443", true, v6(layers.IPProtocolTCP, tcpSeg(8443, 49200, "PA"), payload)},
	} {
		n, err := vm.Run(frame(t, "vlan", c.ip))
		if err != nil || (n > 0) != c.keep {
			t.Errorf("%s: kept %d bytes (want kept=%v), err %v", c.name, n, c.keep, err)
		}
	}
}

func TestSocketFilterLinkTypes(t *testing.T) {
	if _, err := SocketFilterFor(Default(), capture.LinkLinuxSLL); err == nil {
		t.Error("a filter for LINUX_SLL was built; want an error")
	}
	raw, err := SocketFilter(nil)
	if err != nil || len(raw) == 0 || len(raw) > 4096 {
		t.Fatalf("%d instructions, %v", len(raw), err)
	}
}
