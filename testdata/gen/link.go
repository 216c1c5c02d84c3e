package main

// Link-layer encapsulations and the capture file writers.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Link types (pcap LINKTYPE_ values).
const (
	linkNull     = layers.LinkType(0)
	linkEthernet = layers.LinkType(1)
	linkRaw      = layers.LinkType(101)
	linkLoop     = layers.LinkType(108)
	linkSLL      = layers.LinkType(113)
	linkIPv4     = layers.LinkType(228)
	linkIPv6     = layers.LinkType(229)
	linkSLL2     = layers.LinkType(276)
)

// Documentation MAC addresses (RFC 7042: 00-00-5E-00-53-xx).
var (
	clientMAC  = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, 0x10}
	gatewayMAC = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}
)

// encap is how the IP datagrams of a capture are framed.
type encap int

const (
	encEthernet encap = iota
	encVLAN           // 802.1Q, VLAN 100
	encQinQ           // 802.1ad S-tag 200 + 802.1Q C-tag 100
	encSLL
	encSLL2
	encRaw // no link header (LINKTYPE_RAW, _IPV4, _IPV6)
	encNull
	encLoop
)

func etherType(ip []byte) layers.EthernetType {
	if ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// frame adds the link header to p's datagram.
func frame(e encap, p packet) []byte {
	et := etherType(p.ip)
	src, dst := gatewayMAC, clientMAC
	if p.out {
		src, dst = clientMAC, gatewayMAC
	}
	switch e {
	case encEthernet:
		return serialize(&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}, gopacket.Payload(p.ip))
	case encVLAN:
		return serialize(&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: et}, gopacket.Payload(p.ip))
	case encQinQ:
		return serialize(&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeQinQ},
			&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: et}, gopacket.Payload(p.ip))
	case encSLL:
		// packet type, ARPHRD_ETHER, address length, address (8 bytes), protocol
		h := make([]byte, 16)
		if p.out {
			binary.BigEndian.PutUint16(h[0:], 4) // LINUX_SLL_OUTGOING
		}
		binary.BigEndian.PutUint16(h[2:], 1)
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], src)
		binary.BigEndian.PutUint16(h[14:], uint16(et))
		return append(h, p.ip...)
	case encSLL2:
		// protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(et))
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex of eth0
		binary.BigEndian.PutUint16(h[8:], 1)
		if p.out {
			h[10] = 4
		}
		h[11] = 6
		copy(h[12:], src)
		return append(h, p.ip...)
	case encRaw:
		return append([]byte(nil), p.ip...)
	case encNull:
		h := make([]byte, 4)
		binary.LittleEndian.PutUint32(h, afOf(p.ip, 24)) // host order of the (little-endian) capturing host
		return append(h, p.ip...)
	case encLoop:
		h := make([]byte, 4)
		binary.BigEndian.PutUint32(h, afOf(p.ip, 24))
		return append(h, p.ip...)
	}
	panic(fmt.Sprint("unknown encapsulation ", e))
}

// afOf is the BSD address family of the datagram: AF_INET 2, or AF_INET6 (24 on OpenBSD/NetBSD).
func afOf(ip []byte, af6 uint32) uint32 {
	if ip[0]>>4 == 6 {
		return af6
	}
	return 2
}

const snapLen = 262144

// The writers are written by hand: gopacket's pcapgo imports golang.org/x/net/bpf,
// which the module's go.sum does not list. The formats are the ones pcapgo writes.

// writeClassic writes a classic pcap in the given byte order and resolution.
func writeClassic(w io.Writer, c *capture, lt layers.LinkType, e encap, order binary.ByteOrder, nanos bool) error {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	hdr := make([]byte, 24)
	order.PutUint32(hdr[0:], magic)
	order.PutUint16(hdr[4:], 2)
	order.PutUint16(hdr[6:], 4)
	order.PutUint32(hdr[16:], snapLen)
	order.PutUint32(hdr[20:], uint32(lt))
	b.Write(hdr)
	for _, p := range c.pkts {
		data := frame(e, p)
		frac := p.ts.Nanosecond()
		if !nanos {
			if frac%1000 != 0 {
				panic("sub-microsecond timestamp in a microsecond pcap")
			}
			frac /= 1000
		}
		rec := make([]byte, 16)
		order.PutUint32(rec[0:], uint32(p.ts.Unix()))
		order.PutUint32(rec[4:], uint32(frac))
		order.PutUint32(rec[8:], uint32(len(data)))
		order.PutUint32(rec[12:], uint32(len(data)))
		b.Write(rec)
		b.Write(data)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writePcap writes a classic little-endian microsecond pcap.
func writePcap(w io.Writer, c *capture, lt layers.LinkType, e encap) error {
	return writeClassic(w, c, lt, e, binary.LittleEndian, false)
}

// writePcapGz writes writePcap's output gzip-compressed (no name, no time in the gzip header).
func writePcapGz(w io.Writer, c *capture, lt layers.LinkType, e encap) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := writePcap(zw, c, lt, e); err != nil {
		return err
	}
	return zw.Close()
}

// writePcapBENanos writes a big-endian, nanosecond-resolution classic pcap.
func writePcapBENanos(w io.Writer, c *capture, lt layers.LinkType, e encap) error {
	return writeClassic(w, c, lt, e, binary.BigEndian, true)
}

// writePcapng writes a one-interface pcapng with nanosecond timestamps.
func writePcapng(w io.Writer, c *capture, lt layers.LinkType, e encap) error {
	return writePcapngMulti(w, c, []ngIface{{lt: lt, enc: e, name: "eth0", tsresol: 9}})
}

// ---------------------------------------------------------------- hand-written pcapng

// pcapng: little-endian section header, interface description and enhanced
// packet blocks (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html).

func ngBlock(typ uint32, body []byte) []byte {
	body = append(body, make([]byte, (4-len(body)%4)%4)...)
	n := uint32(12 + len(body))
	b := make([]byte, 8, n)
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

func ngOption(code uint16, v []byte) []byte {
	o := binary.LittleEndian.AppendUint16(nil, code)
	o = binary.LittleEndian.AppendUint16(o, uint16(len(v)))
	o = append(o, v...)
	return append(o, make([]byte, (4-len(v)%4)%4)...)
}

var ngEndOfOpt = []byte{0, 0, 0, 0}

func ngSHB() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x1a2b3c4d)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length unknown
	b = append(b, ngOption(4, []byte("msnaudit testdata/gen"))...)
	return ngBlock(0x0a0d0d0a, append(b, ngEndOfOpt...))
}

// ngIDB is an interface description; tsresol 0 leaves if_tsresol out (microseconds).
func ngIDB(lt layers.LinkType, name string, tsresol byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(lt))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, snapLen)
	b = append(b, ngOption(2, []byte(name))...)
	if tsresol != 0 {
		b = append(b, ngOption(9, []byte{tsresol})...)
	}
	return ngBlock(1, append(b, ngEndOfOpt...))
}

// ngEPB is an enhanced packet block with the timestamp in units of 10^-tsresol s.
func ngEPB(iface uint32, ticks uint64, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, iface)
	b = binary.LittleEndian.AppendUint32(b, uint32(ticks>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ticks))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	b = append(b, make([]byte, (4-len(data)%4)%4)...)
	return ngBlock(6, b)
}

// ngIface is one interface of a hand-written pcapng.
type ngIface struct {
	lt      layers.LinkType
	enc     encap
	name    string
	tsresol byte // 0: default (microseconds), 9: nanoseconds
}

// writePcapngMulti writes packets on several interfaces (packet.iface indexes ifs).
func writePcapngMulti(w io.Writer, c *capture, ifs []ngIface) error {
	var b bytes.Buffer
	b.Write(ngSHB())
	for _, f := range ifs {
		b.Write(ngIDB(f.lt, f.name, f.tsresol))
	}
	for _, p := range c.pkts {
		f := ifs[p.iface]
		ticks := uint64(p.ts.UnixNano())
		if f.tsresol == 0 {
			if p.ts.Nanosecond()%1000 != 0 {
				panic("sub-microsecond timestamp on a microsecond interface")
			}
			ticks /= 1000
		}
		b.Write(ngEPB(uint32(p.iface), ticks, frame(f.enc, p)))
	}
	_, err := w.Write(b.Bytes())
	return err
}
