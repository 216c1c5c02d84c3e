package main

// The watch's engines behind one small interface, so that runWatch's loop,
// snapshots, metrics, events, -w and final report are the same for both:
// AF_PACKET sockets (capture.Live), or the eBPF programs of package bpf,
// which count every TCP and UDP packet in the kernel, send user space only
// what names and judges flows, and report this host's own drops.

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/msnaudit/msnaudit/bpf"
	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

// liveEngine is where the watch's traffic comes from.
type liveEngine interface {
	// next reads the next packet into p, which the caller feeds to a (and
	// writes to -w); what is not a packet (the eBPF engine's kernel drops)
	// it feeds to a itself. capture.ErrIdle: nothing came for a short while.
	next(a *classify.Auditor, p *capture.Packet) error
	// tick merges into a what the engine counted without sending it (the
	// eBPF engine's per-flow kernel counters): every --interval before the
	// snapshot, and once more before Close, for the final report.
	tick(a *classify.Auditor, now time.Time) error
	// about says what is captured and how, for the "watching" line.
	about() string
	// summarize puts the engine and its health into the final report and
	// warns about what may affect the verdicts; hs is the last health().
	summarize(c *classify.CaptureSummary, hs []liveHealth, warn func(string, ...any))
	// Interfaces lists the interfaces in Packet.Iface order (for -w).
	Interfaces() []capture.Interface
	// Stats returns the kernel's counters so far (after Close: the last).
	Stats() ([]capture.IfaceStats, error)
	Close() error
}

// Engines for --engine.
const (
	engineAuto     = "auto"
	engineAFPacket = "afpacket"
	engineEBPF     = "ebpf"
)

// Attach modes of the eBPF engine, for --ebpf-attach.
const (
	attachAuto = bpf.AttachAuto
	attachTCX  = bpf.AttachTCX
	attachTC   = bpf.AttachTC

	maxRingBuffer = bpf.MaxRingBuffer // --buffer's limit with the eBPF engine
)

// notForEBPF is what makes the eBPF engine the wrong tool for the
// interfaces asked: --engine auto falls back to AF_PACKET and says why.
type notForEBPF struct{ msg string }

func (e *notForEBPF) Error() string { return e.msg }

// openLiveEngine opens the engine --engine asks for. auto tries eBPF and
// falls back to AF_PACKET, saying why in one line, when eBPF cannot run
// here; an interface that is missing or down is left to AF_PACKET to
// report, as without eBPF; -w (which the eBPF engine refuses) makes auto
// AF_PACKET. what describes the socket filter.
func openLiveEngine(o *watchOptions, rs *classify.Rules, lopts capture.LiveOptions, what string, warn func(string, ...any)) (liveEngine, error) {
	if o.pcapng != "" && o.engine == engineEBPF {
		// The kernel sends user space only some packets, cut short, and
		// counts the rest: a later audit of those would misjudge flows
		// (a TLS flow whose server payload was counted, not sent, looks
		// reset after the ClientHello).
		return nil, usageError{"-w needs --engine afpacket (or auto): the ebpf engine reads only some packets, cut short"}
	}
	if o.engine == engineEBPF || o.engine == engineAuto && runtime.GOOS == "linux" && o.pcapng == "" {
		e, err := openEBPF(o, rs, warn)
		var (
			ie  *capture.IfaceError
			not *notForEBPF
		)
		switch {
		case err == nil:
			return e, nil
		case o.engine == engineEBPF && errors.As(err, &not):
			return nil, fmt.Errorf("%w; --engine afpacket can", err)
		case o.engine == engineEBPF:
			return nil, unavailable(err)
		case errors.As(err, &ie):
			// A missing interface: AF_PACKET says it as it always has.
		case errors.Is(err, bpf.ErrUnavailable) || errors.As(err, &not):
			warn("%v; falling back to AF_PACKET", unavailable(err))
		default:
			warn("ebpf engine: %v; falling back to AF_PACKET", err)
		}
	}
	src, err := capture.Live(o.ifaces, lopts)
	if err != nil {
		return nil, err
	}
	return &afpacketEngine{LiveSource: src, filtered: lopts.Filter != nil,
		what: fmt.Sprintf("%s; %d %s per interface, %d MiB ring", what, o.workers, plural(o.workers, "worker", "workers"), lopts.BufferMB)}, nil
}

// afpacketEngine is the AF_PACKET capture: every packet the socket filter
// passes is read.
type afpacketEngine struct {
	capture.LiveSource
	filtered bool // a socket filter selects packets (not --all-traffic)
	what     string
}

// reloadRules installs the socket filter of a reloaded rule table, which
// may select ports the old one did not.
func (e *afpacketEngine) reloadRules(rs *classify.Rules) error {
	if !e.filtered {
		return nil // --all-traffic
	}
	return e.SetFilter(socketFilter(rs))
}

func (e *afpacketEngine) next(_ *classify.Auditor, p *capture.Packet) error { return e.Next(p) }
func (e *afpacketEngine) tick(*classify.Auditor, time.Time) error           { return nil }
func (e *afpacketEngine) about() string                                     { return e.what }

func (e *afpacketEngine) summarize(c *classify.CaptureSummary, hs []liveHealth, warn func(string, ...any)) {
	c.Engine = engineAFPacket
	var drops uint64
	for _, h := range hs {
		drops += h.KernelDrops
	}
	c.KernelDrops = drops
	if drops > 0 {
		warn("the kernel dropped %d packets (capture ring full: try a larger --buffer); verdicts may be affected", drops)
	}
}

// unavailable shortens an *bpf.UnavailableError to what is missing and the
// kernel's last word ("operation not permitted"), without the loader's
// chain of contexts; other errors are returned as they are.
func unavailable(err error) error {
	var ue *bpf.UnavailableError
	if !errors.As(err, &ue) || ue.Err == nil {
		return err
	}
	root := ue.Err
	for {
		next := errors.Unwrap(root)
		if next == nil {
			break
		}
		root = next
	}
	return &bpf.UnavailableError{Missing: ue.Missing, Err: root}
}
