//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf/rlimit"

	"github.com/msnaudit/msnaudit/bpf"
	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

const (
	// ebpfIdle: next returns capture.ErrIdle after this long without an
	// event, as an AF_PACKET source does.
	ebpfIdle = 100 * time.Millisecond
	// ebpfIfaceCheck: how often the engine checks that its interfaces are
	// still up (AF_PACKET learns it from its sockets).
	ebpfIfaceCheck = 250 * time.Millisecond
	// ebpfSnapLen is the most of a packet an event carries (SNAP_MAX in
	// bpf/msnaudit.c).
	ebpfSnapLen = 2048
)

// ebpfEngine is the eBPF engine feeding the watch: ring-buffer events are
// read one at a time, so that the watch's loop feeds the packets among them
// to the auditor as it does AF_PACKET's (what bpf.Engine.Drain does, one
// event at a time), and the kernel's per-flow counters are merged on every
// tick.
type ebpfEngine struct {
	e           *bpf.Engine
	ifaces      []capture.Interface
	index       []int         // ifindex of each of ifaces
	pos         map[int]int   // ifindex -> position in ifaces
	idleTimeout time.Duration // kernel flows idle this long are deleted
	any         bool          // -i any: the "watching" line names the interfaces

	ev        bpf.Event
	deadline  time.Time // of the current wait for events
	checkedAt time.Time // when the interfaces were last found up
	// The last packet returned carried payload: once the caller has fed
	// it, the flow is marked named if the auditor no longer reads it.
	pending          bool
	pendSrc, pendDst netip.AddrPort
	pendProto        uint8

	merged           bpf.MergeStats
	stats            bpf.Stats
	dropsUnavailable string
	mode             string     // bpf.AttachTCX or bpf.AttachTC
	ring             uint32     // the ring buffer's bytes
	cleanup          *tcCleanup // removes the tc filters (watch_ebpf_tc_linux.go)
}

// openEBPF loads and attaches the eBPF engine on the watch's interfaces
// ("any": every interface that is up, loopback aside).
func openEBPF(o *watchOptions, rs *classify.Rules, warn func(string, ...any)) (liveEngine, error) {
	names, err := ebpfInterfaces(o.ifaces)
	if err != nil {
		return nil, err
	}
	x := &ebpfEngine{pos: map[int]int{}, idleTimeout: o.cfg.IdleTimeout, any: slices.Contains(o.ifaces, "any")}
	for i, name := range names {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, &capture.IfaceError{Iface: name, Err: capture.ErrNoInterface}
		}
		link := capture.LinkEthernet
		if !bpf.HasLinkHeader(name) {
			link = capture.LinkRaw
		}
		x.ifaces = append(x.ifaces, capture.Interface{Name: name, Link: link, SnapLen: ebpfSnapLen})
		x.index = append(x.index, ifi.Index)
		x.pos[ifi.Index] = i
	}
	// Kernels before 5.11 charge maps to RLIMIT_MEMLOCK; later ones ignore
	// it. Without the right to raise it, Load says what failed.
	_ = rlimit.RemoveMemlock()
	opts := bpf.Options{Interfaces: names, Drops: true, AttachMode: o.ebpfAttach, RingBuffer: uint64(o.bufferMB) << 20}
	e, err := bpf.Load(rs, opts)
	if err != nil {
		// Without the kfree_skb program (a kernel before 5.17, tracing not
		// allowed): the engine still counts and names every flow.
		opts.Drops = false
		var err2 error
		if e, err2 = bpf.Load(rs, opts); err2 != nil {
			return nil, err2
		}
		x.dropsUnavailable = unavailable(err).Error()
		if e.DropsUnavailable != "" {
			x.dropsUnavailable = e.DropsUnavailable
		}
		warn("this host's own drops will not be reported (no kernel_drop outcomes): %s", x.dropsUnavailable)
	}
	if e.AttachMode() == bpf.AttachTC {
		// The watch is about to give up CAP_NET_ADMIN: a helper keeps it.
		tc := e.ReleaseTC()
		if x.cleanup, err = startTCCleanup(tc); err != nil {
			e.Close()
			return nil, errors.Join(err, bpf.RemoveTC(tc))
		}
	}
	x.e, x.mode, x.ring = e, e.AttachMode(), e.RingBuffer()
	x.checkedAt = time.Now()
	return x, nil
}

// ebpfInterfaces checks the interfaces asked for the eBPF engine and
// expands "any".
func ebpfInterfaces(asked []string) ([]string, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	for _, name := range asked {
		if name == "any" {
			for _, ifi := range all {
				if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagLoopback == 0 {
					add(ifi.Name)
				}
			}
			continue
		}
		ifi, err := net.InterfaceByName(name)
		switch {
		case err != nil:
			return nil, &capture.IfaceError{Iface: name, Err: capture.ErrNoInterface}
		case ifi.Flags&net.FlagUp == 0:
			return nil, &capture.IfaceError{Iface: name, Err: capture.ErrInterfaceDown}
		case ifi.Flags&net.FlagLoopback != 0:
			// tc sees a loopback packet twice, leaving (egress) and coming
			// back (ingress): every packet would count twice.
			return nil, &notForEBPF{"interface " + name + ": the ebpf engine does not watch loopback (tc sees each of its packets twice, leaving and coming back)"}
		}
		add(name)
	}
	if len(names) == 0 {
		return nil, &notForEBPF{"-i any: no interface is up besides loopback, which the ebpf engine does not watch"}
	}
	return names, nil
}

func (x *ebpfEngine) about() string {
	how := "TCX"
	if x.mode == bpf.AttachTC {
		how = "tc clsact"
	}
	s := "eBPF " + how + " ingress and egress: every TCP and UDP packet counted in the kernel; " +
		"handshakes, first payload bytes, DNS and ICMP errors read"
	if x.dropsUnavailable == "" {
		s += "; this host's own drops named from its BTF"
	}
	s += fmt.Sprintf("; %d MiB ring buffer", x.ring>>20)
	if x.any {
		names := make([]string, len(x.ifaces))
		for i, ifc := range x.ifaces {
			names[i] = ifc.Name
		}
		s += "; on " + strings.Join(names, ", ")
	}
	return s
}

func (x *ebpfEngine) next(a *classify.Auditor, p *capture.Packet) error {
	if x.pending {
		x.pending = false
		if !a.WantsPayload(x.pendSrc, x.pendDst, x.pendProto) {
			if err := x.e.MarkNamed(x.pendSrc, x.pendDst, x.pendProto); err != nil {
				return err
			}
		}
	}
	for {
		now := time.Now()
		if now.Sub(x.checkedAt) >= ebpfIfaceCheck {
			if err := x.checkInterfaces(); err != nil {
				return err
			}
			x.checkedAt = now
		}
		if !now.Before(x.deadline) {
			x.deadline = now.Add(ebpfIdle)
			x.e.SetDeadline(x.deadline)
		}
		err := x.e.ReadEvent(&x.ev)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return capture.ErrIdle
		}
		if err != nil {
			return fmt.Errorf("ebpf engine: %w", err)
		}
		ev := &x.ev
		if ev.Kind&bpf.KindDrop != 0 {
			// Only this namespace's drops, of flows the watch counts or
			// that this host sent: the kernel checked.
			a.KernelDrop(ev.Src, ev.Dst, ev.Proto, ev.Time, x.e.DropReason(ev.DropReason))
			continue
		}
		*p = ev.Packet
		p.Iface = x.pos[ev.Ifindex] // an unknown index (none expected): the first
		if ev.Kind&bpf.KindPayload != 0 && ev.Kind&bpf.KindDNS == 0 {
			x.pending, x.pendSrc, x.pendDst, x.pendProto = true, ev.Src, ev.Dst, ev.Proto
		}
		return nil
	}
}

// checkInterfaces fails, as an AF_PACKET source does, when an interface is
// down or went away (its tc programs were detached with it).
func (x *ebpfEngine) checkInterfaces() error {
	all, err := net.Interfaces()
	if err != nil {
		return nil // try again later
	}
	byIndex := make(map[int]net.Interface, len(all))
	for _, ifi := range all {
		byIndex[ifi.Index] = ifi
	}
	for i, idx := range x.index {
		ifi, ok := byIndex[idx]
		if !ok || ifi.Name != x.ifaces[i].Name || ifi.Flags&net.FlagUp == 0 {
			return &capture.IfaceError{Iface: x.ifaces[i].Name, Err: capture.ErrInterfaceDown}
		}
	}
	return nil
}

func (x *ebpfEngine) tick(a *classify.Auditor, now time.Time) error {
	if x.e == nil {
		return nil
	}
	ms, err := x.e.Merge(a, now.UnixNano(), x.idleTimeout)
	if err != nil {
		return fmt.Errorf("ebpf engine: %w", err)
	}
	x.merged = ms
	return nil
}

func (x *ebpfEngine) readStats() error {
	s, err := x.e.Stats()
	if err != nil {
		return fmt.Errorf("ebpf engine: %w", err)
	}
	x.stats = s
	return nil
}

// Stats gives the engine's counters as one entry for all its interfaces
// (the kernel counts them together): the packets the tc programs saw, and
// as drops the events the ring buffer had no room for.
func (x *ebpfEngine) Stats() ([]capture.IfaceStats, error) {
	var err error
	if x.e != nil {
		err = x.readStats()
	}
	names := make([]string, len(x.ifaces))
	for i, ifc := range x.ifaces {
		names[i] = ifc.Name
	}
	return []capture.IfaceStats{{Name: strings.Join(names, ","), Packets: x.stats.Packets, Drops: x.stats.EventsLost}}, err
}

func (x *ebpfEngine) Interfaces() []capture.Interface { return x.ifaces }

// Close detaches and unloads the programs, keeping the last counters.
func (x *ebpfEngine) Close() error {
	if x.e == nil {
		return nil
	}
	_ = x.readStats()
	err := x.e.Close()
	x.e = nil
	if x.cleanup != nil {
		err = errors.Join(err, x.cleanup.finish())
		x.cleanup = nil
	}
	return err
}

func (x *ebpfEngine) summarize(c *classify.CaptureSummary, _ []liveHealth, warn func(string, ...any)) {
	c.Engine = engineEBPF
	c.EventsLost = x.stats.EventsLost
	c.KernelFlowsEvicted = x.merged.Evicted + x.stats.FlowsFailed
	c.KernelDropsUnavailable = x.dropsUnavailable
	if c.EventsLost > 0 {
		warn("the eBPF ring buffer had no room for %d events; the kernel counted every packet, but verdicts may be affected", c.EventsLost)
	}
	if c.KernelFlowsEvicted > 0 {
		warn("the kernel's flow table was full: %d flows evicted, their counts may be low", c.KernelFlowsEvicted)
	}
}

// reloadRules writes a reloaded rule table's ports into the kernel, which
// selects by them the payload it sends (watch_reload.go, on SIGHUP).
func (x *ebpfEngine) reloadRules(rs *classify.Rules) error {
	if x.e == nil {
		return nil
	}
	return x.e.SetRules(rs)
}

var _ rulesReloader = (*ebpfEngine)(nil)
