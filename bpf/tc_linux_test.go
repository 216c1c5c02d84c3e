//go:build linux

package bpf

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsPair makes namespaces left and right (tag names them) linked by a veth
// pair, "vl" with 10.231.<subnet>.1/24 and "vr" with .2.
func nsPair(t *testing.T, tag string, subnet int) (left, right string) {
	t.Helper()
	requireBPF(t)
	requireTools(t, "ip")
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	left, right = "msnal"+tag+suffix, "msnar"+tag+suffix
	newNetNS(t, left)
	newNetNS(t, right)
	sh(t, "", "ip", "-n", left, "link", "add", "vl", "type", "veth", "peer", "name", "vr", "netns", right)
	sh(t, "", "ip", "-n", left, "addr", "add", fmt.Sprintf("10.231.%d.1/24", subnet), "dev", "vl")
	sh(t, "", "ip", "-n", right, "addr", "add", fmt.Sprintf("10.231.%d.2/24", subnet), "dev", "vr")
	sh(t, "", "ip", "-n", left, "link", "set", "vl", "up")
	sh(t, "", "ip", "-n", right, "link", "set", "vr", "up")
	return left, right
}

// nlHandle opens a netlink socket in namespace name.
func nlHandle(t *testing.T, name string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// tcState lists an interface's clsact qdisc (whether there is one) and the
// bpf filters on its ingress and egress hooks, by name.
func tcState(t *testing.T, h *netlink.Handle, iface string) (clsact bool, filters map[string][]*netlink.BpfFilter) {
	t.Helper()
	l, err := h.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		clsact = clsact || q.Type() == "clsact"
	}
	filters = map[string][]*netlink.BpfFilter{}
	if !clsact {
		return false, filters
	}
	for hook, parent := range map[string]uint32{"ingress": netlink.HANDLE_MIN_INGRESS, "egress": netlink.HANDLE_MIN_EGRESS} {
		fs, err := h.FilterList(l, parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if b, ok := f.(*netlink.BpfFilter); ok {
				filters[hook] = append(filters[hook], b)
			}
		}
	}
	return clsact, filters
}

// udpEcho sends n datagrams from namespace left to a socket in namespace
// right, which sends each back, and returns once left has read every
// answer: by then both tc hooks of right's interface have run for each.
func udpEcho(t *testing.T, left, right string, src, dst netip.AddrPort, n int) {
	t.Helper()
	listen := func(ns string, a netip.AddrPort) *net.UDPConn {
		var c *net.UDPConn
		if err := inNetNS(ns, func() (err error) {
			c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	srv, cli := listen(right, dst), listen(left, src)
	go func() {
		buf := make([]byte, 2048)
		for {
			m, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:m], from)
		}
	}()
	buf := make([]byte, 2048)
	for i := range n {
		if _, err := cli.WriteToUDPAddrPort([]byte(fmt.Sprintf("datagram %d", i)), dst); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cli.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// echoCounted echoes n datagrams from src in namespace left to dst in
// namespace right and checks that the engine counted each, once, both ways.
func echoCounted(t *testing.T, e *Engine, left, right string, src, dst netip.AddrPort, n int) {
	t.Helper()
	udpEcho(t, left, right, src, dst, n)
	f, ok := flowOf(t, e, src, dst)
	if !ok {
		t.Fatalf("no kernel flow %s -> %s: %+v", src, dst, flows(t, e))
	}
	if f.AB.Packets != uint64(n) || f.BA.Packets != uint64(n) {
		t.Errorf("kernel flow %s <-> %s: %d and %d packets counted, want %d each way", f.A, f.B, f.AB.Packets, f.BA.Packets, n)
	}
}

// flowOf finds the kernel's flow between a and b.
func flowOf(t *testing.T, e *Engine, a, b netip.AddrPort) (Flow, bool) {
	t.Helper()
	for _, f := range flows(t, e) {
		if f.A == a && f.B == b || f.A == b && f.B == a {
			return f, true
		}
	}
	return Flow{}, false
}

// The tc clsact fallback, forced on a kernel that has TCX: the program runs
// as direct-action filters that count real packets, and Close leaves no
// qdisc or filter behind.
func TestAttachTCCountsAndCleansUp(t *testing.T) {
	left, right := nsPair(t, "t", 21)
	h := nlHandle(t, right)
	e := loadEngine(t, Options{AttachMode: AttachTC})
	if err := inNetNS(right, func() error { return e.attach("vr") }); err != nil {
		t.Fatal(err)
	}
	if e.AttachMode() != AttachTC {
		t.Errorf("attach mode %q, want tc", e.AttachMode())
	}
	clsact, fs := tcState(t, h, "vr")
	for _, hook := range []string{"ingress", "egress"} {
		if !clsact || len(fs[hook]) != 1 || fs[hook][0].Name != tcFilterName || !fs[hook][0].DirectAction {
			t.Fatalf("clsact %v, %s filters %+v", clsact, hook, fs[hook])
		}
	}

	echoCounted(t, e, left, right, ap("10.231.21.1:41000"), ap("10.231.21.2:40000"), 25)

	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if clsact, fs := tcState(t, h, "vr"); clsact || len(fs) != 0 {
		t.Errorf("after Close: clsact qdisc %v, filters %+v", clsact, fs)
	}
}

// A clsact qdisc that was there before, with someone else's filter, stays
// with that filter when the engine closes; only the engine's filters go.
func TestAttachTCKeepsOthersFilters(t *testing.T) {
	_, right := nsPair(t, "k", 22)
	h := nlHandle(t, right)
	vr, err := h.LinkByName("vr")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.QdiscAdd(&netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: vr.Attrs().Index,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}); err != nil {
		t.Fatal(err)
	}
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	theirs := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: vr.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS,
		Handle: 1, Protocol: unix.ETH_P_ALL, Priority: 1}, Fd: other.FD(), Name: "theirs", DirectAction: true}
	if err := h.FilterAdd(theirs); err != nil {
		t.Fatal(err)
	}

	e := loadEngine(t, Options{AttachMode: AttachTC})
	if err := inNetNS(right, func() error { return e.attach("vr") }); err != nil {
		t.Fatal(err)
	}
	_, fs := tcState(t, h, "vr")
	if len(fs["ingress"]) != 2 || len(fs["egress"]) != 1 {
		t.Fatalf("filters with the engine attached: %+v", fs)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	clsact, fs := tcState(t, h, "vr")
	if !clsact || len(fs["ingress"]) != 1 || fs["ingress"][0].Name != "theirs" || fs["ingress"][0].Priority != 1 || len(fs["egress"]) != 0 {
		t.Errorf("after Close: clsact %v, filters %+v; want the clsact qdisc and their ingress filter only", clsact, fs)
	}
}

// An unknown attach mode is refused.
func TestAttachModeChecked(t *testing.T) {
	if _, err := Load(nil, Options{AttachMode: "xdp"}); err == nil || err.Error() != `attach mode "xdp" is not auto, tcx or tc` {
		t.Errorf("Load with attach mode xdp: %v", err)
	}
}
