//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/msnaudit/msnaudit/classify"
)

// requireTools skips (or, with CI=true, fails) a test that needs programs
// this machine lacks.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is missing: %v", n, err)
			}
			t.Skipf("needs %s: %v", n, err)
		}
	}
}

func sh(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetNS makes a named network namespace with loopback up, removed when
// the test ends.
func newNetNS(t *testing.T, name string) {
	t.Helper()
	sh(t, "", "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "", "ip", "-n", name, "link", "set", "lo", "up")
}

// inNetNS runs fn on an OS thread that has entered namespace name. The
// thread stays locked and is discarded when fn returns, so no other
// goroutine ever runs in the namespace.
func inNetNS(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", name, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// loadEngineIn loads (and attaches) the engine in namespace ns, whose drops
// it then reports.
func loadEngineIn(t *testing.T, ns string, opts Options) *Engine {
	t.Helper()
	var e *Engine
	if err := inNetNS(ns, func() (err error) {
		e, err = Load(classify.Default(), opts)
		return err
	}); err != nil {
		t.Fatalf("Load in %s: %v", ns, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestNetfilterDropInNamespace: a client namespace connects to TCP 1863 of
// a "gateway" namespace whose nftables input chain drops that port. The tc
// program on the gateway's veth sees the SYN; the kfree_skb program reports
// its drop with the reason NETFILTER_DROP, read from the kernel's BTF; and
// the auditor fed with the engine's events judges the flow kernel_drop.
func TestNetfilterDropInNamespace(t *testing.T) {
	requireBPF(t)
	requireTools(t, "ip", "nft")
	start := time.Now()
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	client, gw := "msnac"+suffix, "msnag"+suffix
	newNetNS(t, client)
	newNetNS(t, gw)
	sh(t, "", "ip", "-n", client, "link", "add", "vc", "type", "veth", "peer", "name", "vg", "netns", gw)
	sh(t, "", "ip", "-n", client, "addr", "add", "10.231.7.1/24", "dev", "vc")
	sh(t, "", "ip", "-n", gw, "addr", "add", "10.231.7.2/24", "dev", "vg")
	sh(t, "", "ip", "-n", client, "link", "set", "vc", "up")
	sh(t, "", "ip", "-n", gw, "link", "set", "vg", "up")
	sh(t, `table inet msnaudit_test {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 1863 drop
	}
}
`, "ip", "netns", "exec", gw, "nft", "-f", "-")

	e := loadEngineIn(t, gw, Options{Drops: true, Interfaces: []string{"vg"}})

	// Connect from the client namespace; the SYNs are dropped, so the dial
	// times out, meanwhile the events are read.
	dialed := make(chan netip.AddrPort, 1)
	go inNetNS(client, func() error {
		d := net.Dialer{Timeout: 1500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.IPv4(10, 231, 7, 1), Port: 41863}}
		c, err := d.Dial("tcp", "10.231.7.2:1863")
		if err == nil {
			c.Close()
		}
		dialed <- netip.MustParseAddrPort("10.231.7.1:41863")
		return err
	})

	src, dst := netip.MustParseAddrPort("10.231.7.1:41863"), netip.MustParseAddrPort("10.231.7.2:1863")
	a := classify.NewAuditor(classify.DefaultConfig())
	var syns, drops int
	var reason string
	e.SetDeadline(time.Now().Add(5 * time.Second))
	for syns == 0 || drops == 0 {
		var ev Event
		err := e.ReadEvent(&ev)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("after 5s: %d SYN events, %d drop events of the flow", syns, drops)
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Kind&KindDrop != 0:
			if ev.Src != src || ev.Dst != dst || ev.Proto != 6 {
				continue // another drop on this machine
			}
			drops++
			reason = e.DropReason(ev.DropReason)
			a.KernelDrop(ev.Src, ev.Dst, ev.Proto, ev.Time, reason)
		case ev.Kind&KindHandshake != 0:
			syns++
			a.Packet(&ev.Packet)
		}
	}
	if reason != "NETFILTER_DROP" {
		t.Errorf("drop reason %q, want NETFILTER_DROP", reason)
	}
	<-dialed
	if err := e.Flows(func(f *Flow) bool {
		if f.Proto == 6 && (f.A == src || f.B == src) {
			k := f.Kernel()
			if k.Client != src || k.C2S.Packets == 0 || f.Drops == 0 {
				t.Errorf("kernel flow %+v drops %d", k, f.Drops)
			}
			a.KernelCounters(&k)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	a.Advance(time.Now().Add(10 * time.Second).UnixNano())
	r := a.Report(nil, false)
	var found bool
	for _, f := range r.Flows {
		if f.Server == dst.String() {
			found = true
			if f.Outcome != classify.KernelDrop || !strings.Contains(f.Detail, "NETFILTER_DROP (netfilter rules)") {
				t.Errorf("flow %s: %s %q", f.Server, f.Outcome, f.Detail)
			}
		}
	}
	if !found {
		t.Errorf("no flow to %s in the report: %+v", dst, r.Flows)
	}
	s, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Drops == 0 || s.FlowsCreated == 0 {
		t.Errorf("stats %+v", s)
	}
	t.Logf("took %v; stats %+v", time.Since(start), s)
}

// A drop in another network namespace makes no entry and no event: the
// drop program compares the skb's namespace with the one the engine was
// loaded in. Each namespace's output chain drops UDP to port 7001 (a
// Messenger port), so sendto fails with EPERM once the kernel has freed the
// datagram: first in the other namespace, then in the watched one, whose
// drop event then comes after any of the other's in the ring buffer.
func TestDropsOfOtherNamespaceIgnored(t *testing.T) {
	requireBPF(t)
	requireTools(t, "ip", "nft")
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	watched, other := "msnaw"+suffix, "msnao"+suffix
	for _, ns := range []string{watched, other} {
		newNetNS(t, ns)
		sh(t, `table inet msnaudit_test {
	chain output {
		type filter hook output priority 0; policy accept;
		udp dport 7001 drop
	}
}
`, "ip", "netns", "exec", ns, "nft", "-f", "-")
	}
	e := loadEngineIn(t, watched, Options{Drops: true})

	dst := ap("127.0.0.1:7001")
	theirs, ours := ap("127.0.0.1:41001"), ap("127.0.0.1:41002")
	for _, c := range []struct {
		ns  string
		src netip.AddrPort
	}{{other, theirs}, {watched, ours}} {
		if err := inNetNS(c.ns, func() error {
			u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(c.src))
			if err != nil {
				return err
			}
			defer u.Close()
			_, err = u.WriteToUDPAddrPort([]byte("probe"), dst)
			if !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("send from %s in %s: %v, want EPERM (dropped by the output chain)", c.src, c.ns, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	e.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		var ev Event
		if err := e.ReadEvent(&ev); err != nil {
			t.Fatalf("waiting for the watched namespace's drop: %v", err)
		}
		if ev.Kind&KindDrop == 0 {
			continue
		}
		if ev.Src == theirs {
			t.Fatalf("drop event from the other namespace: %+v", ev)
		}
		if ev.Src == ours && ev.Dst == dst && e.DropReason(ev.DropReason) == "NETFILTER_DROP" {
			break
		}
	}
	if f, ok := flowOf(t, e, theirs, dst); ok {
		t.Errorf("kernel flow for the other namespace's drop: %+v", f)
	}
	if f, ok := flowOf(t, e, ours, dst); !ok || f.Drops != 1 {
		t.Errorf("kernel flow for the watched namespace's drop: %+v (found %v), want 1 drop", f, ok)
	}
}
