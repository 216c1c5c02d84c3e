//go:build linux

package bpf

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/classify"
)

// requireBPF skips a test that needs to load eBPF programs when this process
// cannot, unless CI=true: there every test must run.
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but not root: eBPF tests cannot run")
	}
	t.Skip("loading eBPF programs needs root (CAP_BPF, CAP_NET_ADMIN)")
}

// loadEngine loads the programs without attaching them.
func loadEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	requireBPF(t)
	e, err := Load(classify.Default(), opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

const tcActUnspec = 0xffffffff // TC_ACT_UNSPEC (-1) as Program.Run returns it

// run runs the tc program on one frame and checks that it only observed.
func run(t *testing.T, prog *ebpf.Program, frame []byte) {
	t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("Program.Run: %v", err)
	}
	if ret != tcActUnspec {
		t.Fatalf("program returned %#x, want TC_ACT_UNSPEC", ret)
	}
}

// events drains the ring buffer without waiting, copying each event.
func events(t *testing.T, e *Engine) []Event {
	t.Helper()
	var out []Event
	e.SetDeadline(time.Now())
	for {
		var ev Event
		err := e.ReadEvent(&ev)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatalf("ReadEvent: %v", err)
		}
		ev.Packet.Data = slices.Clone(ev.Packet.Data)
		out = append(out, ev)
	}
}

// flows reads the kernel's flow table.
func flows(t *testing.T, e *Engine) []Flow {
	t.Helper()
	var out []Flow
	if err := e.Flows(func(f *Flow) bool { out = append(out, *f); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// pktSpec describes one test frame.
type pktSpec struct {
	src, dst netip.AddrPort
	udp      bool
	flags    string // TCP flags: any of "SAFRP"
	payload  []byte
	vlans    int    // 802.1Q tags
	seq      uint32 // TCP sequence number; 0 means 1000
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// frame serializes an Ethernet frame.
func frame(t *testing.T, p pktSpec) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	ethType := layers.EthernetTypeIPv4
	if p.src.Addr().Is6() {
		ethType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: ethType}
	ls = append(ls, eth)
	if p.vlans > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		for i := range p.vlans {
			next := layers.EthernetTypeDot1Q
			if i == p.vlans-1 {
				next = ethType
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(10 + i), Type: next})
		}
	}
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	if p.src.Addr().Is6() {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		ls, nl = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		ls, nl = append(ls, ip), ip
	}
	if p.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
		_ = u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()), Seq: 1000, Window: 65535}
		if p.seq != 0 {
			tcp.Seq = p.seq
		}
		for _, c := range p.flags {
			switch c {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			case 'P':
				tcp.PSH = true
			}
		}
		_ = tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
