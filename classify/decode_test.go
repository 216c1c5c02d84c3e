package classify

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
)

// serialize builds a packet with gopacket, independent of our decoder.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	for _, l := range ls {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, nl := range ls {
				if ip, ok := nl.(gopacket.NetworkLayer); ok {
					n.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcpSYN(sport, dport uint16) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, SYN: true, Window: 65535}
}

func mustEndpoint(t testing.TB, s string, port uint16) endpoint {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil {
		t.Fatalf("bad IP %q", s)
	}
	var a addr
	copy(a[:], ip.To16())
	return endpoint{a, port}
}

func TestDecodeLinkTypes(t *testing.T) {
	payload := gopacket.Payload("VER 1 MSNP18 CVR0\r\n")
	tcp := func() *layers.TCP {
		l := tcpSYN(49200, 1863)
		l.SYN, l.ACK, l.PSH = false, true, true
		return l
	}
	v4 := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcp(), payload}
	}
	ethV4 := serialize(t, append([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, v4()...)...)
	vlan := serialize(t, append([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}}, v4()...)...)
	qinq := serialize(t, append([]gopacket.SerializableLayer{eth(layers.EthernetTypeQinQ),
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}}, v4()...)...)
	raw := serialize(t, v4()...)
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, raw...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, raw...)
	null := append([]byte{2, 0, 0, 0}, raw...)
	loop := append([]byte{0, 0, 0, 2}, raw...)

	for _, tt := range []struct {
		name string
		link capture.LinkType
		data []byte
	}{
		{"ethernet", capture.LinkEthernet, ethV4},
		{"802.1Q", capture.LinkEthernet, vlan},
		{"QinQ", capture.LinkEthernet, qinq},
		{"raw", capture.LinkRaw, raw},
		{"ipv4", capture.LinkIPv4, raw},
		{"sll", capture.LinkLinuxSLL, sll},
		{"sll2", capture.LinkLinuxSLL2, sll2},
		{"null", capture.LinkNull, null},
		{"loop", capture.LinkLoop, loop},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d decoded
			if r := decode(tt.link, tt.data, &d); r != decOK {
				t.Fatalf("decode = %v", r)
			}
			if d.src != mustEndpoint(t, "192.0.2.10", 49200) || d.dst != mustEndpoint(t, "198.51.100.20", 1863) {
				t.Errorf("endpoints %v -> %v", d.src, d.dst)
			}
			if d.proto != protoTCP || string(d.payload) != string(payload) || d.tcpFlags != flagACK|flagPSH {
				t.Errorf("proto %d flags %#x payload %q", d.proto, d.tcpFlags, d.payload)
			}
		})
	}
}

func TestDecodeIPv6ExtensionHeadersAndFragments(t *testing.T) {
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolTCP
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	tcp := tcpSYN(49200, 1863)
	ip := ip6("2001:db8::10", "2001:db8:1::20", layers.IPProtocolIPv6HopByHop)
	tcp.SetNetworkLayerForChecksum(ip)
	data := serialize(t, eth(layers.EthernetTypeIPv6), ip, hbh, dst, tcp)
	var d decoded
	if r := decode(capture.LinkEthernet, data, &d); r != decOK || d.proto != protoTCP || d.dst.port != 1863 || !d.v6 || d.tcpFlags != flagSYN {
		t.Fatalf("decode = %v: proto %d port %d flags %#x", r, d.proto, d.dst.port, d.tcpFlags)
	}

	// A first fragment still names its flow; a later one is only counted.
	udp := []byte{0xc0, 0x00, 0x1b, 0x59, 0x00, 0x20, 0, 0, 'p', 'r', 'o', 'b', 'e'}
	frag := func(offset uint16, more bool) []byte {
		f := []byte{17, 0, byte(offset >> 5), byte(offset<<3) | b2u(more), 0, 0, 0, 1}
		h := []byte{0x60, 0, 0, 0, 0, byte(len(f) + len(udp)), 44, 64}
		h = append(h, net.ParseIP("2001:db8::10")...)
		h = append(h, net.ParseIP("2001:db8:1::20")...)
		return append(append(h, f...), udp...)
	}
	if r := decode(capture.LinkIPv6, frag(0, true), &d); r != decOK || !d.fragment || d.laterFrag || d.proto != protoUDP || d.dst.port != 7001 {
		t.Errorf("first fragment: %v fragment=%v later=%v proto %d port %d", r, d.fragment, d.laterFrag, d.proto, d.dst.port)
	}
	if r := decode(capture.LinkIPv6, frag(185, false), &d); r != decOK || !d.laterFrag {
		t.Errorf("later fragment: %v later=%v", r, d.laterFrag)
	}
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func TestDecodeICMPErrorQuotesFlow(t *testing.T) {
	quoted := serialize(t, ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcpSYN(49200, 1863))[:28]
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 13)}
	data := serialize(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.254", "192.0.2.10", layers.IPProtocolICMPv4), icmp, gopacket.Payload(quoted))
	var d decoded
	if r := decode(capture.LinkEthernet, data, &d); r != decOK || !d.quoted {
		t.Fatalf("decode = %v quoted=%v", r, d.quoted)
	}
	if d.qsrc != mustEndpoint(t, "192.0.2.10", 49200) || d.qdst != mustEndpoint(t, "198.51.100.20", 1863) || d.qproto != protoTCP || d.icmpCode != 13 {
		t.Errorf("quoted %v -> %v proto %d code %d", d.qsrc, d.qdst, d.qproto, d.icmpCode)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := serialize(t, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcpSYN(1, 2))
	ihl := append([]byte(nil), good...)
	ihl[14] = 0x44 // IHL 4
	doff := append([]byte(nil), good...)
	doff[14+20+12] = 0x40 // TCP data offset 4
	for name, data := range map[string][]byte{"IHL<5": ihl, "data offset<5": doff, "short ethernet": good[:10], "short IPv4": good[:20]} {
		var d decoded
		if r := decode(capture.LinkEthernet, data, &d); r != decMalformed {
			t.Errorf("%s: decode = %v, want malformed", name, r)
		}
	}
	// Every prefix of a good packet decodes without panicking.
	for i := range good {
		var d decoded
		decode(capture.LinkEthernet, good[:i], &d)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(capture.LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv4), ip4("192.0.2.10", "198.51.100.20", layers.IPProtocolTCP), tcpSYN(1, 2)))
	f.Add(uint8(capture.LinkRaw), serialize(f, ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 53}))
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		var d decoded
		lt := capture.LinkType(link)
		if link == 255 {
			lt = capture.LinkLinuxSLL2
		}
		decode(lt, data, &d)
		if len(d.payload) > len(data) {
			t.Fatalf("payload longer than the packet")
		}
	})
}
