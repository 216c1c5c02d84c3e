//go:build linux

package bpf

// The tc clsact fallback for kernels without TCX (before 6.6): the same
// program as a direct-action bpf filter on the clsact qdisc's ingress and
// egress hooks. Unlike a TCX link, a filter outlives the process that added
// it, so Close removes exactly the filters the engine added (its program,
// at the priority it chose) and the qdisc only if the engine created it and
// no other filter is left on it.

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcAttachment is what the engine added through netlink, and the netlink
// socket (bound to the network namespace it was opened in) that removes it.
type tcAttachment struct {
	h *netlink.Handle
	TCFilters
}

// TCFilters is what the engine attached through tc, for RemoveTC.
type TCFilters struct {
	Filters []TCFilter
	Qdiscs  []int // ifindexes of the clsact qdiscs the engine created
}

// TCFilter is one of the engine's tc filters.
type TCFilter struct {
	Ifindex  int
	Parent   uint32 // the clsact qdisc's ingress or egress hook
	Priority uint16
	Handle   uint32
	ProgID   int // the program it runs
}

// tcFilterName names the engine's filters in `tc filter show`.
const tcFilterName = "msnaudit"

func tcLink(ifindex int) netlink.Link {
	return &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}
}

// attachTC adds in and out as direct-action filters on ifindex's clsact
// ingress and egress, creating the clsact qdisc if there is none.
func (e *Engine) attachTC(name string, ifindex int, in, out *ebpf.Program) error {
	if e.tc.h == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("open netlink socket: %w", err)
		}
		e.tc.h = h
	}
	h := e.tc.h
	qd := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	switch err := h.QdiscAdd(qd); {
	case err == nil:
		e.tc.Qdiscs = append(e.tc.Qdiscs, ifindex)
	case errors.Is(err, unix.EEXIST):
		// A clsact qdisc is there already (someone else's filters may be
		// on it); an ingress qdisc in its place fails the egress filter.
	default:
		return tcError(name, "add clsact qdisc", err)
	}
	for _, hook := range []struct {
		parent uint32
		prog   *ebpf.Program
	}{{netlink.HANDLE_MIN_INGRESS, in}, {netlink.HANDLE_MIN_EGRESS, out}} {
		parent, prog := hook.parent, hook.prog
		id, err := progID(prog)
		if err != nil {
			return err
		}
		prio, err := freePriority(h, ifindex, parent)
		if err != nil {
			return tcError(name, "list tc filters", err)
		}
		f := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: parent, Handle: 1, Protocol: unix.ETH_P_ALL, Priority: prio},
			Fd:          prog.FD(), Name: tcFilterName, DirectAction: true,
		}
		if err := h.FilterAdd(f); err != nil {
			return tcError(name, "add tc bpf filter", err)
		}
		e.tc.Filters = append(e.tc.Filters, TCFilter{Ifindex: ifindex, Parent: parent, Priority: prio, Handle: f.Handle, ProgID: id})
	}
	return nil
}

func tcError(name, what string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return &UnavailableError{Missing: "permission to attach to " + name + " (CAP_NET_ADMIN)", Err: err}
	}
	return fmt.Errorf("%s on %s: %w", what, name, err)
}

func progID(prog *ebpf.Program) (int, error) {
	info, err := prog.Info()
	if err != nil {
		return 0, fmt.Errorf("program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("program info: no id (kernel before 4.13)")
	}
	return int(id), nil
}

// freePriority returns the lowest filter priority that no filter of parent
// uses, so that the engine's filter is the only one at its priority and
// runs before the others where it can (it only observes).
func freePriority(h *netlink.Handle, ifindex int, parent uint32) (uint16, error) {
	fs, err := h.FilterList(tcLink(ifindex), parent)
	if err != nil {
		return 0, err
	}
	used := map[uint16]bool{}
	for _, f := range fs {
		used[f.Attrs().Priority] = true
	}
	for p := uint16(1); p != 0; p++ {
		if !used[p] {
			return p, nil
		}
	}
	return 0, errors.New("every filter priority is taken")
}

// ReleaseTC hands the tc filters and qdiscs the engine added over to the
// caller: Close no longer removes them, RemoveTC does. For a process that
// gives up CAP_NET_ADMIN (which removing them needs) before it closes the
// engine: a helper that keeps it removes them, even if the process dies.
func (e *Engine) ReleaseTC() TCFilters {
	s := e.tc.TCFilters
	if e.tc.h != nil {
		e.tc.h.Close()
	}
	e.tc = tcAttachment{}
	return s
}

// RemoveTC removes tc filters and qdiscs an engine added, in the calling
// thread's network namespace.
func RemoveTC(s TCFilters) error {
	if len(s.Filters) == 0 && len(s.Qdiscs) == 0 {
		return nil
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink socket: %w", err)
	}
	defer h.Close()
	return removeTC(h, s)
}

func (e *Engine) detachTC() error {
	if e.tc.h == nil {
		return nil
	}
	err := removeTC(e.tc.h, e.tc.TCFilters)
	e.ReleaseTC()
	return err
}

// removeTC removes the engine's filters (only where the filter at their
// priority and handle still runs the engine's program), then the qdiscs
// the engine created, unless someone else's filters are on them.
func removeTC(h *netlink.Handle, s TCFilters) error {
	var errs []error
	for _, f := range s.Filters {
		fs, err := h.FilterList(tcLink(f.Ifindex), f.Parent)
		if err != nil {
			if !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) { // the interface (or its qdisc) is gone
				errs = append(errs, fmt.Errorf("list tc filters of ifindex %d: %w", f.Ifindex, err))
			}
			continue
		}
		for _, g := range fs {
			b, ok := g.(*netlink.BpfFilter)
			if !ok || b.Priority != f.Priority || b.Handle != f.Handle || b.Id != f.ProgID {
				continue
			}
			if err := h.FilterDel(b); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("delete tc filter of ifindex %d: %w", f.Ifindex, err))
			}
		}
	}
	for _, ifindex := range s.Qdiscs {
		left := 0
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, err := h.FilterList(tcLink(ifindex), parent)
			if err != nil {
				left = -1 // gone with its interface, or unknown: leave it
				break
			}
			left += len(fs)
		}
		if left != 0 {
			continue
		}
		q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("delete clsact qdisc of ifindex %d: %w", ifindex, err))
		}
	}
	return errors.Join(errs...)
}
