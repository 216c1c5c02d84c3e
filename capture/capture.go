// Package capture reads packets from capture files (pcap, pcapng, gzip-compressed
// either way, standard input) and, later, from live sources, behind one small
// interface. It never logs, prints or exits.
package capture

import (
	"errors"
	"fmt"
)

// LinkType is a pcap LINKTYPE_ value (https://www.tcpdump.org/linktypes.html).
type LinkType uint32

// The link types msnaudit decodes.
const (
	LinkNull      LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet  LinkType = 1   // Ethernet II, with 802.1Q / QinQ tags
	LinkRaw       LinkType = 101 // raw IPv4 or IPv6, told apart by the version nibble
	LinkLoop      LinkType = 108 // OpenBSD loopback: 4-byte network-order address family
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture v1
	LinkIPv4      LinkType = 228 // raw IPv4
	LinkIPv6      LinkType = 229 // raw IPv6
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2
)

func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "NULL"
	case LinkEthernet:
		return "EN10MB"
	case LinkRaw:
		return "RAW"
	case LinkLoop:
		return "LOOP"
	case LinkLinuxSLL:
		return "LINUX_SLL"
	case LinkIPv4:
		return "IPV4"
	case LinkIPv6:
		return "IPV6"
	case LinkLinuxSLL2:
		return "LINUX_SLL2"
	}
	return fmt.Sprintf("LINKTYPE_%d", uint32(l))
}

// Supported reports whether msnaudit can decode packets of this link type.
func (l LinkType) Supported() bool {
	switch l {
	case LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkLinuxSLL2:
		return true
	}
	return false
}

// Packet is one captured packet. Data aliases the source's buffer and is valid
// only until the next call to Next.
type Packet struct {
	Data   []byte   // captured bytes (len(Data) is the capture length)
	Length int      // original length on the wire
	Time   int64    // Unix time in nanoseconds, UTC
	Link   LinkType // link type of Data
	Iface  int      // interface index within the source (pcapng IDB number, 0 for pcap)
	Input  int      // which input of a merged source the packet came from (0 otherwise)
	// Multi is set when the source captures on more than one interface (a
	// pcapng with several, merged inputs, several live interfaces), where a
	// forwarded packet may be seen twice.
	Multi bool
}

// Source delivers packets in capture order.
type Source interface {
	// Next fills p with the next packet. It returns io.EOF at the clean end of
	// the input, an error wrapping ErrTruncated when the input ends inside a
	// packet (everything before it was delivered), or a *FormatError.
	Next(p *Packet) error
	// Close releases the source's resources.
	Close() error
}

// Batcher is a Source that can also deliver its packets a batch at a time
// (Prefetch's does).
type Batcher interface {
	Source
	// NextBatch returns the next packets, at least one, or the error Next
	// would return. Their Data stay valid until the next call to Next or
	// NextBatch.
	NextBatch() ([]Packet, error)
}

// ErrTruncated is wrapped by errors that report an input cut short.
var ErrTruncated = errors.New("capture is cut short")

// FormatError reports input that is not a capture or is corrupt.
type FormatError struct {
	File   string // the input's name ("-" for standard input)
	Offset int64  // byte offset in the (decompressed) input where the problem is
	Msg    string // what is wrong, lowercase
	Err    error  // the underlying error, if any (ErrTruncated for cut-short input)

	// Decompressed is set when the input was gzip-compressed: Offset then
	// counts bytes of the decompressed data, and the message says so.
	Decompressed bool
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s: %s at byte offset %d", e.File, e.Msg, e.Offset)
	if e.Decompressed {
		s += " (decompressed)"
	}
	if e.Err != nil && !errors.Is(e.Err, ErrTruncated) {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }
