//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

// Options says where the engine attaches and how much it sends user space.
type Options struct {
	// Interfaces to attach the tc program to, ingress and egress. None: the
	// programs are loaded but not attached (tests run them with Program.Run).
	Interfaces []string
	// Drops attaches the tp_btf/kfree_skb program, which reports the
	// kernel's drops of tracked flows with their reason.
	Drops bool
	// PayloadBudget is the payload bytes per flow direction sent to user
	// space at most (until the flow is marked named); 0 means 4096.
	PayloadBudget uint32
	// AttachMode says how the tc program is attached: AttachTCX (Linux
	// 6.6), AttachTC (a clsact qdisc's direct-action filters, for older
	// kernels) or AttachAuto ("" too): TCX where the kernel has it, else tc.
	AttachMode string
	// RingBuffer is the ring buffer's size in bytes, rounded up as
	// RingBufferSize says; 0 means 4 MiB.
	RingBuffer uint64
}

// DefaultPayloadBudget is Options.PayloadBudget's default.
const DefaultPayloadBudget = 4096

// Engine is the loaded and attached eBPF engine. Its methods are not safe
// for concurrent use, except Close, which unblocks ReadEvent.
type Engine struct {
	objs    msnauditObjects
	links   []link.Link
	rd      *ringbuf.Reader
	rec     ringbuf.Record
	reasons map[uint32]string // drop reason -> name, from the kernel's BTF
	deleted uint64            // flows DeleteFlow removed
	clock   int64             // CLOCK_REALTIME - CLOCK_MONOTONIC, ns
	mode    string            // AttachTCX or AttachTC once attached; what Options asked before
	tc      tcAttachment      // the tc filters and qdiscs added (tc_linux.go)
	// DropsUnavailable says why kernel drops are not reported ("" when they are).
	DropsUnavailable string
}

// Load loads the programs with the ports of rules rs and attaches them as
// opts says. The drop program reports the drops of the network namespace
// Load is called in (the calling thread's), where the interfaces are. An error wrapping ErrUnavailable (an *UnavailableError) means
// this system cannot run the engine at all and says what it lacks. Kernels
// before 5.11 charge eBPF maps to RLIMIT_MEMLOCK: there the caller raises it
// first (rlimit.RemoveMemlock); Load changes no process-wide state.
func Load(rs *classify.Rules, opts Options) (*Engine, error) {
	if rs == nil {
		rs = classify.Default()
	}
	mode := opts.AttachMode
	switch mode {
	case "":
		mode = AttachAuto
	case AttachAuto, AttachTCX, AttachTC:
	default:
		return nil, fmt.Errorf("attach mode %q is not auto, tcx or tc", mode)
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, &UnavailableError{Missing: "kernel BTF (/sys/kernel/btf/vmlinux; a kernel built with CONFIG_DEBUG_INFO_BTF)", Err: err}
	}
	reasons, err := DropReasons(kernel)
	if err != nil {
		reasons = map[uint32]string{}
	}
	spec, err := loadMsnaudit()
	if err != nil {
		return nil, fmt.Errorf("read embedded ebpf object: %w", err)
	}
	budget := opts.PayloadBudget
	if budget == 0 {
		budget = DefaultPayloadBudget
	}
	notDropped, consumed := uint32(0), ^uint32(0)
	for v, n := range reasons {
		switch n {
		case "NOT_DROPPED_YET":
			notDropped = v
		case "CONSUMED":
			consumed = v
		}
	}
	netns, err := netnsInode()
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]uint32{
		msnauditVarPayloadBudget:    budget,
		msnauditVarReasonNotDropped: notDropped,
		msnauditVarReasonConsumed:   consumed,
		msnauditVarWatchNetns:       netns,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	spec.Maps[msnauditMapPortClass].Contents = portClasses(rs)
	if opts.RingBuffer != 0 {
		size, err := RingBufferSize(opts.RingBuffer)
		if err != nil {
			return nil, err
		}
		spec.Maps[msnauditMapEvents].MaxEntries = size
	}

	e := &Engine{reasons: reasons, mode: mode}
	copts := &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}
	err = spec.LoadAndAssign(&e.objs, copts)
	if err != nil && !errors.Is(err, os.ErrPermission) {
		// A kernel without the kfree_skb tracepoint's reason argument
		// (before 5.17) rejects on_kfree_skb: run without drops.
		why := loadError(err)
		delete(spec.Programs, msnauditProgOnKfreeSkb)
		var objs struct {
			msnauditMaps
			TcL2       *ebpf.Program `ebpf:"tc_l2"`
			TcL2Egress *ebpf.Program `ebpf:"tc_l2_egress"`
			TcL3       *ebpf.Program `ebpf:"tc_l3"`
			TcL3Egress *ebpf.Program `ebpf:"tc_l3_egress"`
		}
		if err2 := spec.LoadAndAssign(&objs, copts); err2 == nil {
			e.objs.msnauditMaps = objs.msnauditMaps
			e.objs.TcL2, e.objs.TcL2Egress, e.objs.TcL3, e.objs.TcL3Egress = objs.TcL2, objs.TcL2Egress, objs.TcL3, objs.TcL3Egress
			e.DropsUnavailable = why.Error()
			err = nil
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, &UnavailableError{Missing: "permission to load eBPF programs (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root)", Err: err}
		}
		return nil, fmt.Errorf("load ebpf programs: %w", loadError(err))
	}
	if e.clock, err = clockOffset(); err != nil {
		e.Close()
		return nil, err
	}
	if e.rd, err = ringbuf.NewReader(e.objs.Events); err != nil {
		e.Close()
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	for _, name := range opts.Interfaces {
		if err := e.attach(name); err != nil {
			e.Close()
			return nil, err
		}
	}
	if opts.Drops {
		if e.objs.OnKfreeSkb == nil {
			e.Close()
			return nil, &UnavailableError{Missing: "the kfree_skb tracepoint with a drop reason (Linux 5.17 or newer)", Err: errors.New(e.DropsUnavailable)}
		}
		l, err := link.AttachTracing(link.TracingOptions{Program: e.objs.OnKfreeSkb, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("attach tp_btf/kfree_skb: %w", err)
		}
		e.links = append(e.links, l)
	}
	return e, nil
}

// netnsInode is the inode number of the calling thread's network
// namespace: the drop program reports only that namespace's drops.
func netnsInode() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}

// loadError makes a verifier rejection readable: its last lines say why.
func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel's verifier rejected the program: %-20v", ve)
	}
	return err
}

// attach attaches the tc program to an interface, ingress and egress: with
// TCX links, or as tc clsact filters (AttachTC, or AttachAuto on a kernel
// without TCX; the first interface decides for the others).
func (e *Engine) attach(name string) error {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("interface %s: %w", name, err)
	}
	in, out := e.objs.TcL2, e.objs.TcL2Egress
	if !HasLinkHeader(name) {
		in, out = e.objs.TcL3, e.objs.TcL3Egress
	}
	// The egress program does not count again what a watched interface's
	// ingress counted (a packet forwarded from one to the other).
	if err := e.objs.Watched.Put(uint32(ifc.Index), uint8(1)); err != nil {
		return fmt.Errorf("interface %s: add to the watched interfaces: %w", name, err)
	}
	if e.mode == AttachTC {
		return e.attachTC(name, ifc.Index, in, out)
	}
	for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
		prog := in
		if at == ebpf.AttachTCXEgress {
			prog = out
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: at})
		if err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				if e.mode == AttachAuto {
					e.mode = AttachTC
					return e.attachTC(name, ifc.Index, in, out)
				}
				return &UnavailableError{Missing: "TCX (Linux 6.6 or newer)", Err: err}
			}
			if errors.Is(err, os.ErrPermission) {
				return &UnavailableError{Missing: "permission to attach to " + name + " (CAP_NET_ADMIN)", Err: err}
			}
			return fmt.Errorf("attach tcx to %s: %w", name, err)
		}
		e.links = append(e.links, l)
	}
	e.mode = AttachTCX
	return nil
}

// RingBuffer is the size of the ring buffer in bytes.
func (e *Engine) RingBuffer() uint32 { return e.objs.Events.MaxEntries() }

// AttachMode says how the programs are attached: AttachTCX or AttachTC
// (with AttachAuto, "" until an interface is).
func (e *Engine) AttachMode() string {
	if e.mode == AttachAuto {
		return ""
	}
	return e.mode
}

// HasLinkHeader reports whether packets of an interface start with an
// Ethernet header at tc (ARPHRD_ETHER, loopback) rather than at the IP
// header (tun, WireGuard, IP tunnels: ARPHRD_NONE and the like): which of
// the two programs the loader attaches to it.
func HasLinkHeader(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return true
	}
	t, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return true
	}
	switch t {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK, unix.ARPHRD_IEEE802:
		return true
	}
	return false
}

// portClasses turns the rule table into port_class's contents: for each
// port, whether it is distinctive or shared for TCP (low nibble) and UDP
// (high nibble), and whether payload is inspected there (a distinctive or
// shared port, a URL row's port, DNS). Only ports with a bit set are
// written.
func portClasses(rs *classify.Rules) []ebpf.MapKV {
	var cls [65536]uint8
	for port := range 65536 {
		for i, tcp := range []bool{true, false} {
			by := rs.MatchPort(tcp, uint16(port))
			var b uint8
			if by[classify.Distinctive] != 0 {
				b |= uint8(msnauditPortBitsPORT_DISTINCTIVE | msnauditPortBitsPORT_INSPECT)
			}
			if by[classify.Shared] != 0 {
				b |= uint8(msnauditPortBitsPORT_SHARED | msnauditPortBitsPORT_INSPECT)
			}
			cls[port] |= b << (4 * i)
		}
	}
	for _, u := range rs.URLs {
		cls[u.Port] |= uint8(msnauditPortBitsPORT_INSPECT) // URL rows name TCP servers
	}
	cls[53] |= uint8(msnauditPortBitsPORT_INSPECT) | uint8(msnauditPortBitsPORT_INSPECT)<<4
	kv := make([]ebpf.MapKV, 0, 64)
	for port, b := range cls {
		if b != 0 {
			kv = append(kv, ebpf.MapKV{Key: uint32(port), Value: b})
		}
	}
	return kv
}

func clockOffset() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read monotonic clock: %w", err)
	}
	return time.Now().UnixNano() - ts.Nano(), nil
}

// Close detaches and unloads everything; a blocked ReadEvent returns.
func (e *Engine) Close() error {
	var errs []error
	if e.rd != nil {
		errs = append(errs, e.rd.Close())
	}
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	e.links = nil
	errs = append(errs, e.detachTC())
	errs = append(errs, e.objs.Close())
	return errors.Join(errs...)
}

// Event kinds, ORed in Event.Kind.
const (
	KindHandshake = uint8(msnauditEventKindEV_HANDSHAKE) // TCP SYN or SYN-ACK
	KindClose     = uint8(msnauditEventKindEV_CLOSE)     // TCP FIN or RST
	KindPayload   = uint8(msnauditEventKindEV_PAYLOAD)   // first payload bytes of a direction
	KindDNS       = uint8(msnauditEventKindEV_DNS)       // UDP port 53
	KindICMP      = uint8(msnauditEventKindEV_ICMP)      // an ICMP or ICMPv6 error
	KindDrop      = uint8(msnauditEventKindEV_DROP)      // the kernel dropped a packet of the flow
)

// Event is one record of the ring buffer: a packet's first bytes, or a drop.
type Event struct {
	Kind    uint8 // Kind* bits
	Time    int64 // Unix ns
	Ifindex int
	// Packet is the packet's first bytes (none for drops), ready for
	// classify.Auditor.Packet. Its Data aliases the engine's buffer and is
	// valid until the next ReadEvent.
	Packet capture.Packet
	// The packet's source and destination and transport (not for ICMP
	// errors), and for drops the kernel's reason.
	Src, Dst   netip.AddrPort
	Proto      uint8
	DropReason uint32
}

var errShort = errors.New("short ring buffer record")

// ReadEvent waits for the next event (until a deadline set with
// SetDeadline: os.ErrDeadlineExceeded) and fills ev.
func (e *Engine) ReadEvent(ev *Event) error {
	if err := e.rd.ReadInto(&e.rec); err != nil {
		return err
	}
	raw := e.rec.RawSample
	const hdr = int(unsafe.Sizeof(msnauditEvent{}))
	if len(raw) < hdr {
		return fmt.Errorf("%w: %d bytes", errShort, len(raw))
	}
	h := (*msnauditEvent)(unsafe.Pointer(&raw[0]))
	if len(raw) < hdr+int(h.CapLen) {
		return fmt.Errorf("%w: %d bytes, header says %d", errShort, len(raw), hdr+int(h.CapLen))
	}
	*ev = Event{
		Kind:    h.Kind,
		Time:    int64(h.TsNs) + e.clock,
		Ifindex: int(h.Ifindex),
		Packet: capture.Packet{
			Data:   raw[hdr : hdr+int(h.CapLen)],
			Length: int(h.WireLen),
			Link:   capture.LinkType(h.Link),
			Iface:  int(h.Ifindex),
		},
		DropReason: h.DropReason,
	}
	ev.Packet.Time = ev.Time
	if h.Kind&KindICMP == 0 {
		a, b := endpoints(&h.Key)
		ev.Src, ev.Dst, ev.Proto = a, b, h.Key.Proto
		if h.Dir == 1 {
			ev.Src, ev.Dst = b, a
		}
	}
	if h.Kind&KindDrop != 0 {
		ev.Packet.Data = nil
	}
	return nil
}

// SetDeadline makes ReadEvent return os.ErrDeadlineExceeded after t
// (a zero t: never; a past t: as soon as the ring is empty).
func (e *Engine) SetDeadline(t time.Time) { e.rd.SetDeadline(t) }

// DropReason names a kernel drop reason as the running kernel's BTF does,
// without the SKB_DROP_REASON_ prefix ("NETFILTER_DROP").
func (e *Engine) DropReason(r uint32) string {
	if n, ok := e.reasons[r]; ok {
		return n
	}
	return "reason " + strconv.FormatUint(uint64(r), 10)
}

// Dir is one direction's kernel counters.
type Dir struct {
	Packets, Bytes, Payload uint64
	FirstPayload            int64 // Unix ns, 0 if none
	Sampled                 uint64
	SYNs                    uint32
	Flags                   uint8
}

// Flow is one entry of the kernel's flow table: A and B in canonical order.
type Flow struct {
	key         msnauditFlowKey
	A, B        netip.AddrPort
	Proto       uint8
	AB, BA      Dir
	First, Last int64 // Unix ns
	Drops       uint64
	DropReason  uint32
	FirstFromB  bool // the first packet seen went from B to A
	clientDir   uint8
}

// Kernel turns a kernel flow into what classify merges: the client is the
// side that sent the first SYN, or else the first packet.
func (f *Flow) Kernel() classify.KernelFlow {
	k := classify.KernelFlow{Client: f.A, Server: f.B, Proto: f.Proto, First: f.First, Last: f.Last,
		C2S: f.AB.kernel(), S2C: f.BA.kernel()}
	fromB := f.FirstFromB
	if f.clientDir != 0 {
		fromB = f.clientDir == 2
	}
	if fromB {
		k.Client, k.Server, k.C2S, k.S2C = f.B, f.A, k.S2C, k.C2S
	}
	return k
}

func (d *Dir) kernel() classify.KernelDir {
	return classify.KernelDir{Packets: d.Packets, Bytes: d.Bytes, Payload: d.Payload, FirstPayload: d.FirstPayload, Flags: d.Flags}
}

func (e *Engine) wall(mono uint64) int64 {
	if mono == 0 {
		return 0
	}
	return int64(mono) + e.clock
}

func endpoints(k *msnauditFlowKey) (a, b netip.AddrPort) {
	return netip.AddrPortFrom(netip.AddrFrom16(k.A).Unmap(), k.Aport),
		netip.AddrPortFrom(netip.AddrFrom16(k.B).Unmap(), k.Bport)
}

func makeKey(src, dst netip.AddrPort, proto uint8) msnauditFlowKey {
	k := msnauditFlowKey{A: src.Addr().As16(), B: dst.Addr().As16(), Aport: src.Port(), Bport: dst.Port(), Proto: proto}
	if c := compare16(k.B, k.A); c < 0 || c == 0 && k.Bport < k.Aport {
		k.A, k.B, k.Aport, k.Bport = k.B, k.A, k.Bport, k.Aport
	}
	return k
}

func compare16(x, y [16]byte) int {
	for i := range x {
		if x[i] != y[i] {
			return int(x[i]) - int(y[i])
		}
	}
	return 0
}

// Flows calls fn with each flow of the kernel's table, until fn returns
// false. The table may change meanwhile: a flow may be missed or repeated.
func (e *Engine) Flows(fn func(*Flow) bool) error {
	var (
		k  msnauditFlowKey
		v  msnauditFlowStats
		fl Flow
	)
	it := e.objs.Flows.Iterate()
	for it.Next(&k, &v) {
		fl = Flow{key: k, Proto: k.Proto, First: e.wall(v.FirstNs), Last: e.wall(v.LastNs),
			Drops: v.Drops, DropReason: v.DropReason, FirstFromB: v.FirstDir == 1, clientDir: v.ClientDir,
			AB: e.dir(&v.Dir[0]), BA: e.dir(&v.Dir[1])}
		fl.A, fl.B = endpoints(&k)
		if !fn(&fl) {
			return nil
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate kernel flows: %w", err)
	}
	return nil
}

func (e *Engine) dir(d *msnauditDirStats) Dir {
	return Dir{Packets: d.Packets, Bytes: d.Bytes, Payload: d.Payload, FirstPayload: e.wall(d.FirstPayloadNs),
		Sampled: d.Sampled, SYNs: d.Syns, Flags: uint8(d.Flags)}
}

// DeleteFlow removes a flow from the kernel's tables (a finished flow).
func (e *Engine) DeleteFlow(f *Flow) error {
	err := e.objs.Flows.Delete(&f.key)
	_ = e.objs.Named.Delete(&f.key)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete kernel flow: %w", err)
	}
	if err == nil {
		e.deleted++
	}
	return nil
}

// MarkNamed tells the kernel to stop sending the payload of a flow: user
// space has named it.
func (e *Engine) MarkNamed(src, dst netip.AddrPort, proto uint8) error {
	k := makeKey(src, dst, proto)
	if err := e.objs.Named.Put(&k, uint8(1)); err != nil {
		return fmt.Errorf("mark flow named: %w", err)
	}
	return nil
}

// Stats are the engine's health counters, summed over CPUs.
type Stats struct {
	Packets      uint64 // packets the tc programs counted (a forwarded one once)
	NotTracked   uint64 // IP packets that belong to no TCP/UDP flow
	FlowsCreated uint64 // flow entries the kernel created
	FlowsFailed  uint64 // flow entries it could not create
	EventsLost   uint64 // events the ring buffer had no room for
	Drops        uint64 // packets of tracked flows the kernel dropped
}

// Stats reads the health counters.
func (e *Engine) Stats() (Stats, error) {
	get := func(i msnauditStatIndex) (uint64, error) {
		var per []uint64
		if err := e.objs.Stats.Lookup(uint32(i), &per); err != nil {
			return 0, fmt.Errorf("read engine stats: %w", err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		return sum, nil
	}
	var s Stats
	for _, f := range []struct {
		i msnauditStatIndex
		p *uint64
	}{
		{msnauditStatIndexSTAT_PACKETS, &s.Packets},
		{msnauditStatIndexSTAT_NOT_TRACKED, &s.NotTracked},
		{msnauditStatIndexSTAT_FLOWS_CREATED, &s.FlowsCreated},
		{msnauditStatIndexSTAT_FLOWS_FAILED, &s.FlowsFailed},
		{msnauditStatIndexSTAT_EVENTS_LOST, &s.EventsLost},
		{msnauditStatIndexSTAT_DROPS, &s.Drops},
	} {
		v, err := get(f.i)
		if err != nil {
			return s, err
		}
		*f.p = v
	}
	return s, nil
}
