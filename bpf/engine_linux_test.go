//go:build linux

package bpf

import (
	"bytes"
	"testing"

	"github.com/msnaudit/msnaudit/capture"
)

func TestLoadOnly(t *testing.T) {
	e := loadEngine(t, Options{})
	if e.DropsUnavailable != "" {
		t.Logf("drops unavailable: %s", e.DropsUnavailable)
	}
	if got := e.DropReason(0xfffffff0); got != "reason 4294967280" {
		t.Errorf("DropReason(unknown) = %q", got)
	}
}

// TestTCPFlowCountersAndSampling runs a TCP connection to the MSNP port
// through the tc program: every packet is counted per direction, the
// handshake and closing packets are sent, and payload only up to the budget.
func TestTCPFlowCountersAndSampling(t *testing.T) {
	e := loadEngine(t, Options{PayloadBudget: 100})
	cli, srv := ap("192.0.2.10:50123"), ap("198.51.100.20:1863")
	msnp := []byte("VER 1 MSNP18 MSNP17 CVR0\r\n")
	big := bytes.Repeat([]byte("x"), 90)
	frames := []struct {
		p    pktSpec
		want uint8 // event kinds expected, 0 for no event
		cap  int   // payload bytes the event carries
	}{
		{pktSpec{src: cli, dst: srv, flags: "S"}, KindHandshake, 0},
		{pktSpec{src: srv, dst: cli, flags: "SA"}, KindHandshake, 0},
		{pktSpec{src: cli, dst: srv, flags: "A"}, 0, 0},
		{pktSpec{src: cli, dst: srv, flags: "PA", payload: msnp}, KindPayload, len(msnp)},
		{pktSpec{src: cli, dst: srv, flags: "PA", payload: big}, KindPayload, 100 - len(msnp)}, // budget cut
		{pktSpec{src: cli, dst: srv, flags: "PA", payload: big}, 0, 0},                         // budget spent
		{pktSpec{src: srv, dst: cli, flags: "PA", payload: msnp}, KindPayload, len(msnp)},      // the other direction has its own
		{pktSpec{src: cli, dst: srv, flags: "FA"}, KindClose, 0},
		{pktSpec{src: srv, dst: cli, flags: "R"}, KindClose, 0},
	}
	var wantBytes [2]uint64
	for i, f := range frames {
		b := frame(t, f.p)
		run(t, e.objs.TcL2, b)
		wantBytes[boolInt(f.p.src == srv)] += uint64(len(b))
		evs := events(t, e)
		if f.want == 0 {
			if len(evs) != 0 {
				t.Errorf("frame %d: got %d events, want none", i, len(evs))
			}
			continue
		}
		if len(evs) != 1 {
			t.Fatalf("frame %d: got %d events, want 1", i, len(evs))
		}
		ev := evs[0]
		if ev.Kind != f.want {
			t.Errorf("frame %d: kind %#x, want %#x", i, ev.Kind, f.want)
		}
		hdr := 14 + 20 + 20
		if got := len(ev.Packet.Data) - hdr; got != f.cap {
			t.Errorf("frame %d: event carries %d payload bytes, want %d", i, got, f.cap)
		}
		if ev.Packet.Length != len(b) || ev.Packet.Link != capture.LinkEthernet || ev.Time == 0 {
			t.Errorf("frame %d: event packet %+v", i, ev.Packet)
		}
		if !bytes.Equal(ev.Packet.Data, b[:len(ev.Packet.Data)]) {
			t.Errorf("frame %d: event bytes differ from the frame's", i)
		}
	}
	fl := flows(t, e)
	if len(fl) != 1 {
		t.Fatalf("%d flows, want 1", len(fl))
	}
	f := fl[0]
	if f.A != cli || f.B != srv || f.Proto != 6 {
		t.Errorf("flow %v -> %v proto %d", f.A, f.B, f.Proto)
	}
	c2s, s2c := f.AB, f.BA
	if c2s.Packets != 6 || s2c.Packets != 3 {
		t.Errorf("packets %d/%d, want 6/3", c2s.Packets, s2c.Packets)
	}
	if c2s.Bytes != wantBytes[0] || s2c.Bytes != wantBytes[1] {
		t.Errorf("bytes %d/%d, want %d/%d", c2s.Bytes, s2c.Bytes, wantBytes[0], wantBytes[1])
	}
	if c2s.Payload != uint64(len(msnp)+2*len(big)) || s2c.Payload != uint64(len(msnp)) {
		t.Errorf("payload %d/%d", c2s.Payload, s2c.Payload)
	}
	if c2s.Sampled != 100 || s2c.Sampled != uint64(len(msnp)) {
		t.Errorf("sampled %d/%d", c2s.Sampled, s2c.Sampled)
	}
	if c2s.Flags != 0x02|0x10|0x08|0x01 || s2c.Flags != 0x02|0x10|0x08|0x04 {
		t.Errorf("flags %#x/%#x", c2s.Flags, s2c.Flags)
	}
	if c2s.SYNs != 1 || s2c.SYNs != 1 {
		t.Errorf("SYNs %d/%d", c2s.SYNs, s2c.SYNs)
	}
	if f.First == 0 || f.Last < f.First || c2s.FirstPayload == 0 {
		t.Errorf("times first %d last %d first payload %d", f.First, f.Last, c2s.FirstPayload)
	}
	k := f.Kernel()
	if k.Client != cli || k.Server != srv || k.C2S.Packets != 6 {
		t.Errorf("Kernel() = %+v", k)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestNamedStopsPayload: once user space marks a flow named, its payload is
// no longer sent (but still counted); its FIN still is.
func TestNamedStopsPayload(t *testing.T) {
	e := loadEngine(t, Options{})
	cli, srv := ap("192.0.2.10:50124"), ap("198.51.100.30:443")
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "S"}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "PA", payload: []byte("\x16\x03\x01hello")}))
	if evs := events(t, e); len(evs) != 2 || evs[1].Kind != KindPayload {
		t.Fatalf("before the mark: %d events", len(evs))
	}
	if err := e.MarkNamed(srv, cli, 6); err != nil { // either order names the flow
		t.Fatal(err)
	}
	run(t, e.objs.TcL2, frame(t, pktSpec{src: srv, dst: cli, flags: "PA", payload: []byte("\x16\x03\x03server")}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "PA", payload: []byte("more")}))
	if evs := events(t, e); len(evs) != 0 {
		t.Fatalf("after the mark: %d events, want none", len(evs))
	}
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "FA", payload: []byte("bye")}))
	if evs := events(t, e); len(evs) != 1 || evs[0].Kind != KindClose {
		t.Fatalf("FIN after the mark: %+v", evs)
	}
	fl := flows(t, e)
	if len(fl) != 1 || fl[0].Kernel().C2S.Packets != 4 || fl[0].Kernel().S2C.Payload != 9 {
		t.Fatalf("flows %+v", fl)
	}
}

// TestRangePortHandshakeOnly: a TCP flow on a port only a wide range covers
// sends its handshake, not its payload; it is still counted.
func TestRangePortHandshakeOnly(t *testing.T) {
	e := loadEngine(t, Options{})
	cli, srv := ap("192.0.2.10:50125"), ap("203.0.113.5:5555")
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "S"}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "PA", payload: []byte("GET / HTTP/1.1\r\n")}))
	evs := events(t, e)
	if len(evs) != 1 || evs[0].Kind != KindHandshake {
		t.Fatalf("events %+v, want the SYN only", evs)
	}
	if fl := flows(t, e); len(fl) != 1 || fl[0].AB.Packets+fl[0].BA.Packets != 2 {
		t.Fatalf("flows %+v", fl)
	}
}

// TestUDP: DNS goes whole; datagrams on an inspected port go up to the
// budget; on other ports, the first datagram of each direction is sent
// (classify names UDP flows from it), later ones are not.
func TestUDP(t *testing.T) {
	e := loadEngine(t, Options{})
	cli, dns := ap("192.0.2.10:40000"), ap("192.0.2.53:53")
	answer := bytes.Repeat([]byte{0xab}, 600)
	run(t, e.objs.TcL2, frame(t, pktSpec{src: dns, dst: cli, udp: true, payload: answer}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: dns, dst: cli, udp: true, payload: answer}))
	evs := events(t, e)
	if len(evs) != 2 || evs[0].Kind&KindDNS == 0 || len(evs[1].Packet.Data) != 14+20+8+600 {
		t.Fatalf("DNS events: %d", len(evs))
	}
	echo := ap("198.51.100.7:7001")
	for range 3 {
		run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: echo, udp: true, payload: make([]byte, 20)}))
	}
	run(t, e.objs.TcL2, frame(t, pktSpec{src: echo, dst: cli, udp: true, payload: make([]byte, 20)}))
	evs = events(t, e)
	if len(evs) != 4 { // 7001 is a distinctive port: inspected up to the budget
		t.Fatalf("echo events: %d, want 4", len(evs))
	}
	media := ap("198.51.100.8:30000")
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: media, udp: true, payload: make([]byte, 20)}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: media, udp: true, payload: make([]byte, 20)}))
	if evs = events(t, e); len(evs) != 1 {
		t.Fatalf("media events: %d, want the first datagram", len(evs))
	}
	var k = -1
	for i, f := range flows(t, e) {
		if f.A == cli && f.B == echo || f.B == cli && f.A == echo {
			k = i
			if kf := f.Kernel(); kf.Client != cli || kf.C2S.Packets != 3 || kf.S2C.Packets != 1 || kf.Proto != 17 {
				t.Errorf("echo flow %+v", kf)
			}
		}
	}
	if k < 0 {
		t.Fatal("no echo flow")
	}
}

// TestVLANAndIPv6: one and two 802.1Q tags, IPv6; the flow key is the same
// as untagged.
func TestVLANAndIPv6(t *testing.T) {
	e := loadEngine(t, Options{})
	cli, srv := ap("192.0.2.10:50126"), ap("198.51.100.20:1863")
	for vl := range 3 {
		run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "S", vlans: vl}))
	}
	cli6, srv6 := ap("[2001:db8::10]:50127"), ap("[2001:db8:1::20]:1863")
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli6, dst: srv6, flags: "S"}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: srv6, dst: cli6, flags: "SA", vlans: 1}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli6, dst: srv6, flags: "PA", payload: []byte("VER 1 MSNP18\r\n")}))
	evs := events(t, e)
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	if got := len(evs[5].Packet.Data); got != 14+40+20+14 {
		t.Errorf("IPv6 payload event carries %d bytes", got)
	}
	fl := flows(t, e)
	if len(fl) != 2 {
		t.Fatalf("%d flows, want 2: %+v", len(fl), fl)
	}
	for _, f := range fl {
		k := f.Kernel()
		switch k.Client {
		case cli:
			if k.C2S.Packets != 3 {
				t.Errorf("tagged SYNs counted %d, want 3", k.C2S.Packets)
			}
		case cli6:
			if k.Server != srv6 || k.C2S.Packets != 2 || k.S2C.Packets != 1 || k.C2S.Payload != 14 {
				t.Errorf("IPv6 flow %+v", k)
			}
		default:
			t.Errorf("flow %+v", k)
		}
	}
}

// Options.RingBuffer sizes the ring buffer map the kernel makes (rounded up
// to a power of two); 0 keeps the object's 4 MiB.
func TestRingBufferOption(t *testing.T) {
	for _, c := range []struct{ ask, want uint64 }{{0, 4 << 20}, {3 << 20, 4 << 20}, {16 << 20, 16 << 20}} {
		e := loadEngine(t, Options{RingBuffer: c.ask})
		info, err := e.objs.Events.Info()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(info.MaxEntries) != c.want || uint64(e.RingBuffer()) != c.want {
			t.Errorf("RingBuffer %d: the kernel's map has %d bytes (RingBuffer() %d), want %d", c.ask, info.MaxEntries, e.RingBuffer(), c.want)
		}
		e.Close()
	}
}
