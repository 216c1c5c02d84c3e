//go:build linux

package bpf

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestTruncatedHeaders runs every prefix of tagged IPv4 and IPv6 frames
// (and frames with lying length fields) through the program: it must never
// fail, never send more than the frame holds, and count a flow only when
// its ports were inside the frame.
func TestTruncatedHeaders(t *testing.T) {
	e := loadEngine(t, Options{})
	for _, p := range []pktSpec{
		{src: ap("192.0.2.10:50200"), dst: ap("198.51.100.20:1863"), flags: "S", vlans: 2, payload: []byte("VER")},
		{src: ap("[2001:db8::10]:50201"), dst: ap("[2001:db8::20]:443"), flags: "PA", payload: []byte("\x16\x03\x01")},
		{src: ap("[2001:db8::10]:50204"), dst: ap("[2001:db8::20]:443"), flags: "PA", vlans: 1, payload: []byte("\x16\x03\x01")},
		{src: ap("192.0.2.10:50202"), dst: ap("192.0.2.53:53"), udp: true, payload: []byte("dns")},
	} {
		full := frame(t, p)
		var refused []int
		ran, whole := 0, 0 // prefixes run; of those, with the transport header's ports and flags
		l4 := 14 + 4*p.vlans + 20
		if p.src.Addr().Is6() {
			l4 += 20
		}
		need := l4 + 14
		if p.udp {
			need = l4 + 4
		}
		for n := 14; n <= len(full); n++ {
			ret, err := e.objs.TcL2.Run(&ebpf.RunOptions{Data: full[:n]})
			switch {
			case errors.Is(err, unix.EINVAL):
				// BPF_PROG_TEST_RUN itself refuses some frames too short
				// for their ethertype (IPv6 shorter than its header).
				refused = append(refused, n)
				continue
			case err != nil:
				t.Fatalf("%v prefix %d: %v", p.dst, n, err)
			case ret != tcActUnspec:
				t.Fatalf("%v prefix %d: returned %#x", p.dst, n, ret)
			}
			ran++
			if n >= need {
				whole++
			}
			for _, ev := range events(t, e) {
				if len(ev.Packet.Data) > n {
					t.Fatalf("%v prefix %d: event carries %d bytes", p.dst, n, len(ev.Packet.Data))
				}
			}
		}
		t.Logf("%v: ran %d prefixes; test run refused lengths %v", p.dst, ran, refused)
		var counted uint64
		for _, f := range flows(t, e) {
			if f.A == p.src || f.B == p.src {
				counted = f.AB.Packets + f.BA.Packets
			}
		}
		if counted != uint64(whole) {
			t.Errorf("%v: flow counted %d packets, want the %d prefixes that hold the ports", p.dst, counted, whole)
		}
	}
	// Lengths that lie: an IPv4 IHL of 15 past the frame, a TCP data offset
	// of 15, an IPv4 total length shorter than the header.
	b := frame(t, pktSpec{src: ap("192.0.2.10:50203"), dst: ap("198.51.100.20:1863"), flags: "S"})
	for _, mut := range []func([]byte){
		func(b []byte) { b[14] = 0x4f },
		func(b []byte) { b[14+20+12] = 0xf0 },
		func(b []byte) { b[14+2], b[14+3] = 0, 10 },
		func(b []byte) { b[14] = 0x60 }, // version 6 in an IPv4 ethertype
	} {
		c := append([]byte(nil), b...)
		mut(c)
		run(t, e.objs.TcL2, c)
	}
	events(t, e)
}

// TestICMPError: an ICMP destination unreachable quoting a TCP SYN is sent
// with the quote; an echo request is not.
func TestICMPError(t *testing.T) {
	e := loadEngine(t, Options{})
	quoted := frame(t, pktSpec{src: ap("192.0.2.10:49165"), dst: ap("203.0.113.40:1503"), flags: "S"})[14:]
	for _, typ := range []layers.ICMPv4TypeCode{
		layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 13),
		layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0),
	} {
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: []byte{192, 0, 2, 254}, DstIP: []byte{192, 0, 2, 10}},
			&layers.ICMPv4{TypeCode: typ}, gopacket.Payload(quoted))
		if err != nil {
			t.Fatal(err)
		}
		run(t, e.objs.TcL2, buf.Bytes())
	}
	evs := events(t, e)
	if len(evs) != 1 || evs[0].Kind != KindICMP || len(evs[0].Packet.Data) != 14+20+8+len(quoted) {
		t.Fatalf("ICMP events %+v", evs)
	}
	if fl := flows(t, e); len(fl) != 0 {
		t.Fatalf("ICMP made flows: %+v", fl)
	}
}
