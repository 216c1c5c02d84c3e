package classify

import (
	"fmt"
	"sort"

	"golang.org/x/net/bpf"

	"github.com/msnaudit/msnaudit/capture"
)

// FilterSnapLen is what the socket filter keeps of an accepted packet: all of
// it (the largest packet a TPACKET_V3 block of the live capture holds).
const FilterSnapLen = 262144

// SocketFilter returns a classic BPF program, for an AF_PACKET socket reading
// Ethernet frames, that keeps the packets the auditor can judge with rules rs
// and drops the rest in the kernel. See SocketFilterFor for what it keeps.
func SocketFilter(rs *Rules) ([]bpf.RawInstruction, error) {
	return SocketFilterFor(rs, capture.LinkEthernet)
}

// SocketFilterFor returns the socket filter for packets of link type link:
// capture.LinkEthernet (Ethernet II, untagged or with one or two 802.1Q/802.1ad
// tags), or capture.LinkRaw (packets that start at the IP header, as an
// AF_PACKET SOCK_DGRAM socket such as "any" shows them to its filter).
//
// It keeps, for IPv4 (any header length) and IPv6:
//   - TCP and UDP packets whose source or destination port is a distinctive
//     or shared port of the rules, or the port of a URL row (for TCP), so that
//     MSNP, the echo probes, TLS SNI and HTTP Host can be read;
//   - DNS: TCP and UDP port 53 either way;
//   - TCP packets of any port with SYN, FIN or RST set, so that the outcome of
//     a connection on a wide range port (refused, dropped, reset) can still be
//     judged;
//   - ICMP destination unreachable, time exceeded and parameter problem, and
//     ICMPv6 errors (types 1-4): they quote the flow they fail;
//   - IPv6 packets whose first next header is an extension header (hop-by-hop,
//     routing, fragment, destination options, AH, mobility, HIP, shim6): kept
//     whole, without looking further.
//
// It drops everything else: other TCP payload (the wide ranges only make a
// flow "possible" and are judged from its handshake), other UDP, ARP and
// other non-IP frames, and IPv4 fragments after the first.
func SocketFilterFor(rs *Rules, link capture.LinkType) ([]bpf.RawInstruction, error) {
	if rs == nil {
		rs = Default()
	}
	tcp, udp := filterPorts(rs)
	var a filterAsm
	switch link {
	case capture.LinkEthernet:
		// Dispatch on the EtherType behind zero, one or two VLAN tags.
		for tags := 0; tags <= 2; tags++ {
			off := uint32(12 + 4*tags)
			a.emit(bpf.LoadAbsolute{Off: off, Size: 2})
			a.jumpIfEq(0x0800, a.label(fmt.Sprintf("v4/%d", off+2)))
			a.jumpIfEq(0x86dd, a.label(fmt.Sprintf("v6/%d", off+2)))
			if tags < 2 {
				a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8100, SkipTrue: 2})
				a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x88a8, SkipTrue: 1})
				a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x9100, SkipTrue: 1})
				a.jump(a.label(fmt.Sprintf("tag/%d", tags+1)))
			}
			a.emit(bpf.RetConstant{Val: 0})
			if tags < 2 {
				a.mark(a.label(fmt.Sprintf("tag/%d", tags+1)))
			}
		}
		for _, l := range []uint32{14, 18, 22} {
			a.ipv4(l, tcp, udp)
			a.ipv6(l, tcp, udp)
		}
	case capture.LinkRaw:
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		a.jumpIfEq(0x40, a.label("v4/0"))
		a.jumpIfEq(0x60, a.label("v6/0"))
		a.emit(bpf.RetConstant{Val: 0})
		a.ipv4(0, tcp, udp)
		a.ipv6(0, tcp, udp)
	default:
		return nil, fmt.Errorf("socket filter: link type %v is not supported", link)
	}
	return a.assemble()
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint16 }

// filterPorts lists, merged and sorted, the TCP and UDP ports whose packets
// the filter keeps.
func filterPorts(rs *Rules) (tcp, udp []portRange) {
	tcp = append(tcp, portRange{53, 53})
	udp = append(udp, portRange{53, 53})
	for _, p := range rs.Ports {
		if p.Class == Range {
			continue
		}
		if p.TCP {
			tcp = append(tcp, portRange{p.Lo, p.Hi})
		}
		if p.UDP {
			udp = append(udp, portRange{p.Lo, p.Hi})
		}
	}
	for _, u := range rs.URLs {
		if u.Port != 0 {
			tcp = append(tcp, portRange{u.Port, u.Port})
		}
	}
	return mergeRanges(tcp), mergeRanges(udp)
}

func mergeRanges(rs []portRange) []portRange {
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.lo) <= uint32(out[n-1].hi)+1 {
			if r.hi > out[n-1].hi {
				out[n-1].hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// filterAsm assembles a classic BPF program whose only long jumps are
// unconditional (32-bit offsets) to named labels; conditional jumps only ever
// skip one or two instructions, so no program is too long for them.
type filterAsm struct {
	ins    []bpf.Instruction
	labels map[string]int  // label -> instruction index
	jumps  map[int]string  // index of a Jump -> its target label
	names  map[string]bool // labels referenced
}

func (a *filterAsm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *filterAsm) label(name string) string {
	if a.names == nil {
		a.names = map[string]bool{}
	}
	a.names[name] = true
	return name
}

func (a *filterAsm) mark(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

func (a *filterAsm) jump(name string) {
	if a.jumps == nil {
		a.jumps = map[int]string{}
	}
	a.jumps[len(a.ins)] = name
	a.emit(bpf.Jump{})
}

// jumpIfEq jumps to a label when A equals v.
func (a *filterAsm) jumpIfEq(v uint32, name string) {
	a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: v, SkipTrue: 1})
	a.jump(name)
}

func (a *filterAsm) keep() { a.emit(bpf.RetConstant{Val: FilterSnapLen}) }
func (a *filterAsm) drop() { a.emit(bpf.RetConstant{Val: 0}) }

// keepPorts keeps the packet when A is in one of the ranges.
func (a *filterAsm) keepPorts(ports []portRange) {
	for _, r := range ports {
		if r.lo == r.hi {
			a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(r.lo), SkipTrue: 1})
		} else {
			a.emit(bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(r.lo), SkipTrue: 2})
			a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(r.hi), SkipTrue: 1})
		}
		a.keep()
	}
}

// transport emits the TCP and UDP checks; load(off, size) loads a field of
// the transport header.
func (a *filterAsm) transport(prefix string, load func(off uint32, size int) bpf.Instruction, tcp, udp []portRange) {
	a.mark(prefix + "tcp")
	a.emit(load(13, 1))
	a.emit(bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: 0x07, SkipTrue: 1}) // FIN, SYN, RST
	a.keep()
	a.emit(load(0, 2))
	a.keepPorts(tcp)
	a.emit(load(2, 2))
	a.keepPorts(tcp)
	a.drop()

	a.mark(prefix + "udp")
	a.emit(load(0, 2))
	a.keepPorts(udp)
	a.emit(load(2, 2))
	a.keepPorts(udp)
	a.drop()
}

// ipv4 emits the checks for an IPv4 header at offset l.
func (a *filterAsm) ipv4(l uint32, tcp, udp []portRange) {
	p := fmt.Sprintf("v4/%d/", l)
	a.mark(fmt.Sprintf("v4/%d", l))
	a.emit(bpf.LoadAbsolute{Off: l + 6, Size: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: 0x1fff, SkipTrue: 1}) // a later fragment: no ports
	a.drop()
	a.emit(bpf.LoadMemShift{Off: l}) // X = header length
	a.emit(bpf.LoadAbsolute{Off: l + 9, Size: 1})
	a.jumpIfEq(6, a.label(p+"tcp"))
	a.jumpIfEq(17, a.label(p+"udp"))
	a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 1, SkipTrue: 5})
	a.emit(bpf.LoadIndirect{Off: l, Size: 1}) // ICMP type
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 3, SkipTrue: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 11, SkipTrue: 1})
	a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 12, SkipTrue: 1})
	a.keep()
	a.drop()
	a.transport(p, func(off uint32, size int) bpf.Instruction { return bpf.LoadIndirect{Off: l + off, Size: size} }, tcp, udp)
}

// ipv6Extension lists the next-header values of IPv6 extension headers.
var ipv6Extension = []uint32{0, 43, 44, 60, 51, 135, 139, 140}

// ipv6 emits the checks for an IPv6 header at offset l.
func (a *filterAsm) ipv6(l uint32, tcp, udp []portRange) {
	p := fmt.Sprintf("v6/%d/", l)
	a.mark(fmt.Sprintf("v6/%d", l))
	a.emit(bpf.LoadAbsolute{Off: l + 6, Size: 1})
	a.jumpIfEq(6, a.label(p+"tcp"))
	a.jumpIfEq(17, a.label(p+"udp"))
	for _, nh := range ipv6Extension {
		a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: nh, SkipTrue: 1})
		a.keep()
	}
	a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 58, SkipTrue: 4})
	a.emit(bpf.LoadAbsolute{Off: l + 40, Size: 1}) // ICMPv6 type
	a.emit(bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 1, SkipTrue: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 4, SkipTrue: 1})
	a.keep()
	a.drop()
	a.transport(p, func(off uint32, size int) bpf.Instruction { return bpf.LoadAbsolute{Off: l + 40 + off, Size: size} }, tcp, udp)
}

func (a *filterAsm) assemble() ([]bpf.RawInstruction, error) {
	for name := range a.names {
		if _, ok := a.labels[name]; !ok {
			return nil, fmt.Errorf("socket filter: label %s is never placed", name)
		}
	}
	for at, name := range a.jumps {
		to := a.labels[name]
		if to <= at {
			return nil, fmt.Errorf("socket filter: jump back to %s", name)
		}
		a.ins[at] = bpf.Jump{Skip: uint32(to - at - 1)}
	}
	if len(a.ins) > 4096 {
		return nil, fmt.Errorf("socket filter: %d instructions, more than the kernel's 4096 (too many ports in the rules)", len(a.ins))
	}
	raw, err := bpf.Assemble(a.ins)
	if err != nil {
		return nil, fmt.Errorf("socket filter: %w", err)
	}
	return raw, nil
}
