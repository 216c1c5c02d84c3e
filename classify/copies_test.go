package classify

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/msnaudit/msnaudit/capture"
)

// sll2 turns an Ethernet frame into a Linux cooked v2 one on interface
// ifindex.
func sll2(eth []byte, ifindex uint32) []byte {
	h := make([]byte, 20, 20+len(eth)-14)
	binary.BigEndian.PutUint16(h[0:], binary.BigEndian.Uint16(eth[12:]))
	binary.BigEndian.PutUint32(h[4:], ifindex)
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[11] = 6
	return append(h, eth[14:]...)
}

// forwarded is the frame as a router sends it on: another MAC header, the
// TTL one less, the IP checksum changed.
func forwarded(eth []byte) []byte {
	f := append([]byte(nil), eth...)
	f[0], f[6] = 0x02, 0x04
	f[14+8]--
	f[14+10] ^= 0x55
	return f
}

// TestForwardedCopiesCountOnce: the same packet captured on two interfaces
// (a gateway's two sides, in a pcapng or -i any) counts once in its flow;
// the same packet twice on one interface (a retransmission), or seen again
// on another only after the window, counts twice.
func TestForwardedCopiesCountOnce(t *testing.T) {
	syn := steadyPackets(t)[0]
	at := func(ms int) int64 { return int64(1_700_000_000_000_000_000) + int64(ms)*int64(time.Millisecond) }
	eth := func(d []byte, iface, ms int) capture.Packet {
		return capture.Packet{Link: capture.LinkEthernet, Data: d, Length: len(d), Iface: iface, Time: at(ms), Multi: true}
	}
	cooked := func(d []byte, ifindex uint32, ms int) capture.Packet {
		c := sll2(d, ifindex)
		return capture.Packet{Link: capture.LinkLinuxSLL2, Data: c, Length: len(c), Time: at(ms)}
	}
	for _, c := range []struct {
		name         string
		pkts         []capture.Packet
		syns, copies int
	}{
		{"two pcapng interfaces", []capture.Packet{eth(syn, 0, 0), eth(forwarded(syn), 1, 1)}, 1, 1},
		{"any, two interfaces", []capture.Packet{cooked(syn, 2, 0), cooked(forwarded(syn), 3, 1)}, 1, 1},
		{"two inputs merged", []capture.Packet{eth(syn, 0, 0), {Link: capture.LinkEthernet, Data: syn, Length: len(syn), Input: 1, Time: at(2), Multi: true}}, 1, 1},
		{"a source of one interface", []capture.Packet{{Link: capture.LinkEthernet, Data: syn, Length: len(syn), Time: at(0)}, {Link: capture.LinkEthernet, Data: syn, Length: len(syn), Time: at(1)}}, 2, 0},
		{"one interface twice", []capture.Packet{eth(syn, 0, 0), eth(syn, 0, 1)}, 2, 0},
		{"after the window", []capture.Packet{eth(syn, 0, 0), eth(forwarded(syn), 1, 600)}, 2, 0},
		{"three interfaces", []capture.Packet{eth(syn, 0, 0), eth(forwarded(syn), 1, 1), eth(forwarded(forwarded(syn)), 2, 2)}, 2, 1},
	} {
		for _, workers := range []int{1, 2} {
			cfg := DefaultConfig()
			cfg.Workers = workers
			a := NewAuditor(cfg)
			a.Batch(c.pkts)
			st := a.Stats()
			r := a.Report(nil, false)
			if len(r.Flows) != 1 || st.Copies != uint64(c.copies) || r.Capture.ForwardedCopies != st.Copies {
				t.Errorf("%s, %d workers: %d flows, %d copies (report %d), want 1 flow, %d copies", c.name, workers, len(r.Flows), st.Copies, r.Capture.ForwardedCopies, c.copies)
				continue
			}
			if f := r.Flows[0]; f.Packets != uint64(c.syns) || !strings.Contains(f.Detail, plural(c.syns, "SYN", "SYNs")) {
				t.Errorf("%s, %d workers: %d packets (%s), want %d SYNs", c.name, workers, f.Packets, f.Detail, c.syns)
			}
		}
	}
}
