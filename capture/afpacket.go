package capture

import (
	"errors"

	"golang.org/x/net/bpf"
)

// LiveOptions configures a live capture (Live).
type LiveOptions struct {
	// BufferMB is the kernel ring of each interface, in MiB, shared by its
	// workers (64 if zero). A bigger ring rides out longer bursts.
	BufferMB int
	// Workers is the number of sockets per interface, joined in one fanout
	// group that keeps each flow on one socket, each read on its own
	// goroutine (1 if zero).
	Workers int
	// Filter returns the socket filter for sockets that deliver packets of
	// the given link type: LinkEthernet, or LinkRaw for sockets that see
	// packets from the IP header on ("any" and devices without an Ethernet
	// header). A nil Filter installs none: every packet is read.
	Filter func(LinkType) ([]bpf.RawInstruction, error)
	// Promiscuous asks named interfaces to pass up frames not addressed to
	// them (a mirror port). It does not apply to "any".
	Promiscuous bool
}

// Interface describes one interface of a live source, as a pcapng
// Interface Description Block does.
type Interface struct {
	Name    string
	Link    LinkType
	SnapLen int
}

// IfaceStats are the kernel's counters (tpacket_stats) for one interface,
// summed over its sockets.
type IfaceStats struct {
	Name    string
	Packets uint64 // packets the socket filter passed, dropped ones included
	Drops   uint64 // packets dropped because the ring was full
}

// LiveSource is a Source reading network interfaces. Its Next returns
// ErrIdle when no packet came for a short while, so that a caller can keep a
// clock running; calling Next again goes on reading.
type LiveSource interface {
	Source
	// Interfaces lists the interfaces in Packet.Iface order.
	Interfaces() []Interface
	// Stats returns the kernel's counters so far (after Close: the last ones).
	Stats() ([]IfaceStats, error)
	// SetFilter replaces every socket's filter with filter's for its link
	// type (LiveOptions.Filter), as a new rule table asks; it needs no
	// privilege. Packets the sockets queued already are read still.
	SetFilter(filter func(LinkType) ([]bpf.RawInstruction, error)) error
}

// Errors of live capture, wrapped in an *IfaceError naming the interface.
var (
	// ErrIdle is returned by a live source's Next when no packet came for a
	// short while. It is not a failure.
	ErrIdle = errors.New("no packet for a while")
	// ErrPermission: opening a packet socket needs CAP_NET_RAW.
	ErrPermission = errors.New("needs CAP_NET_RAW (run as root or grant the capability)")
	// ErrNoInterface: the interface does not exist.
	ErrNoInterface = errors.New("no such interface")
	// ErrInterfaceDown: the interface is down or went away.
	ErrInterfaceDown = errors.New("is down or went away")
	// ErrLiveUnsupported: live capture needs Linux.
	ErrLiveUnsupported = errors.New("live capture needs Linux (AF_PACKET)")
)

// IfaceError is a live capture failing on one interface.
type IfaceError struct {
	Iface string
	Err   error
}

func (e *IfaceError) Error() string { return "interface " + e.Iface + ": " + e.Err.Error() }

func (e *IfaceError) Unwrap() error { return e.Err }

// liveSnapLen is the most a live capture keeps of a packet.
const liveSnapLen = 262144
