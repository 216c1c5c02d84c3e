package main

// The hostile-capture suite (issue 6, item 2): captures whose bytes are
// chosen to hurt a packet auditor, written to testdata/hostile/. Each comes
// with <file>.expect.json (hostileExpectation): the packet records the reader
// must deliver, the fewest of them the auditor must count as malformed, whether
// the file itself is cut short, and, for files that must be refused, where.
//
// The captures are built with the conversation builder (conv.go) and then
// damaged: a record's capture length cut below its length on the wire, a
// header field overwritten, a frame given as raw bytes. hostile_net.go holds
// the link, network and transport inputs, hostile_app.go the payloads.
//
// The files are registered with packets -1: gen_test.go's goodCaptures, its
// tshark cross-check and the classifier's ground-truth test take every other
// capture for a well-formed one, and these are not.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// hostileExpectation is the content of a testdata/hostile/*.expect.json file.
type hostileExpectation struct {
	Packets      int  `json:"packets"`       // packet records the reader delivers (before the error, for error files)
	MalformedMin int  `json:"malformed_min"` // the auditor counts at least this many packets as malformed
	Truncated    bool `json:"truncated"`     // the file ends inside a record: the report says truncated
	// Error files must be refused (exit 2) with a message naming the file
	// and a byte offset: Offset, the start of the lying record or block, or
	// FieldOffset, the lying length field in it.
	Error       bool         `json:"error,omitempty"`
	Offset      int          `json:"offset,omitempty"`
	FieldOffset int          `json:"field_offset,omitempty"`
	Note        string       `json:"note"`
	Records     []recordNote `json:"records,omitempty"` // the damaged records, by number
}

// recordNote says what is wrong with one record of a hostile capture.
type recordNote struct {
	Record    int    `json:"record"`    // 1-based record number
	Malformed bool   `json:"malformed"` // its headers contradict the bytes on the wire: it must count as malformed
	What      string `json:"what"`
}

// recMeta is how one record departs from its datagram.
type recMeta struct {
	cut     bool // the record is cut:
	caplen  int  // bytes of the IP datagram captured (negative: the link header is cut too)
	origlen int  // length on the wire of the whole frame; -1: the frame's length
	isFrame bool // the datagram is the whole link-layer frame, written as is
	noPad   bool // an Ethernet frame is not padded to 60 bytes: the wire carried the datagram alone
}

// hostile is a capture being damaged.
type hostile struct {
	*capture
	meta  map[int]*recMeta
	notes []recordNote
}

func newHostile() *hostile {
	return &hostile{capture: newCapture(), meta: map[int]*recMeta{}}
}

// lastMeta is the metadata of the last packet emitted.
func (h *hostile) lastMeta() *recMeta {
	i := len(h.pkts) - 1
	if i < 0 {
		panic("hostile: no packet yet")
	}
	m := h.meta[i]
	if m == nil {
		m = &recMeta{origlen: -1}
		h.meta[i] = m
	}
	return m
}

// note describes the last packet emitted.
func (h *hostile) note(malformed bool, what string) {
	h.notes = append(h.notes, recordNote{Record: len(h.pkts), Malformed: malformed, What: what})
}

// cut keeps n bytes of the last packet's IP datagram (its length on the wire
// is unchanged); a negative n also cuts -n bytes of the link header.
func (h *hostile) cut(n int, what string) {
	m := h.lastMeta()
	m.cut, m.caplen = true, n
	h.note(false, what)
}

// raw emits a hand-made datagram and describes it. On Ethernet its frame is
// not padded, so a short datagram is all the wire carried.
func (h *hostile) raw(ip []byte, out, malformed bool, what string) {
	h.emit(ip, out)
	h.lastMeta().noPad = true
	h.note(malformed, what)
}

// rawFrame emits a link-layer frame as is and describes it.
func (h *hostile) rawFrame(frame []byte, malformed bool, what string) {
	h.emit(frame, true) // the frame is its own datagram: no link header is added
	h.lastMeta().isFrame = true
	h.note(malformed, what)
}

// record is packet i as written: the captured bytes and the length on the wire.
func (h *hostile) record(i int, e encap) (data []byte, orig int) {
	p := h.pkts[i]
	m := h.meta[i]
	switch {
	case m != nil && m.isFrame:
		data = p.ip
	case m != nil && m.noPad && e == encEthernet:
		data = ethFrame(uint16(etherType(p.ip)), p.ip)
		if p.out {
			copy(data[0:], gatewayMAC)
			copy(data[6:], clientMAC)
		} else {
			copy(data[0:], clientMAC)
			copy(data[6:], gatewayMAC)
		}
	default:
		data = frame(e, p)
	}
	orig = len(data)
	if m != nil {
		if m.cut {
			if n := len(data) - len(p.ip) + m.caplen; n < len(data) {
				data = data[:max(n, 0)]
			}
		}
		if m.origlen >= 0 {
			orig = m.origlen
		}
	}
	return data, orig
}

// pcap writes a little-endian microsecond pcap; snap > 0 also cuts every record to snap bytes.
func (h *hostile) pcap(lt layers.LinkType, e encap, snap int) []byte {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], uint32(snapOr(snap)))
	binary.LittleEndian.PutUint32(hdr[20:], uint32(lt))
	b.Write(hdr)
	for i, p := range h.pkts {
		data, orig := h.record(i, e)
		if snap > 0 && len(data) > snap {
			data = data[:snap]
		}
		if p.ts.Nanosecond()%1000 != 0 {
			panic("sub-microsecond timestamp in a microsecond pcap")
		}
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(p.ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(p.ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(data)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(orig))
		b.Write(rec)
		b.Write(data)
	}
	return b.Bytes()
}

// pcapng writes a one-interface pcapng (nanosecond timestamps) whose
// interface declares snap (and cuts every record to it) when snap > 0.
func (h *hostile) pcapng(lt layers.LinkType, e encap, snap int) []byte {
	var b bytes.Buffer
	b.Write(ngSHB())
	b.Write(ngIDBSnap(lt, "eth0", 9, uint32(snapOr(snap))))
	for i, p := range h.pkts {
		data, orig := h.record(i, e)
		if snap > 0 && len(data) > snap {
			data = data[:snap]
		}
		b.Write(ngEPBLen(0, uint64(p.ts.UnixNano()), data, uint32(orig)))
	}
	return b.Bytes()
}

func snapOr(snap int) int {
	if snap > 0 {
		return snap
	}
	return snapLen
}

// ngIDBSnap is ngIDB with a snapshot length.
func ngIDBSnap(lt layers.LinkType, name string, tsresol byte, snap uint32) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(lt))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, snap)
	b = append(b, ngOption(2, []byte(name))...)
	b = append(b, ngOption(9, []byte{tsresol})...)
	return ngBlock(1, append(b, ngEndOfOpt...))
}

// ngEPBLen is ngEPB with an original length of its own.
func ngEPBLen(iface uint32, ticks uint64, data []byte, orig uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, iface)
	b = binary.LittleEndian.AppendUint32(b, uint32(ticks>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ticks))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, orig)
	b = append(b, data...)
	b = append(b, make([]byte, (4-len(data)%4)%4)...)
	return ngBlock(6, b)
}

// expect is the expectation of a whole, readable hostile capture.
func (h *hostile) expect(note string) hostileExpectation {
	e := hostileExpectation{Packets: len(h.pkts), Note: note, Records: h.notes}
	for _, n := range h.notes {
		if n.Malformed {
			e.MalformedMin++
		}
	}
	return e
}

// hostileFiles builds every file of testdata/hostile/, in a fixed order.
func hostileFiles() []file {
	var files []file
	add := func(name string, data []byte, e hostileExpectation) {
		files = append(files, file{"hostile/" + name, data, -1},
			file{"hostile/" + name + ".expect.json", marshalExpect(e), -1})
	}
	eth := func(h *hostile) []byte { return h.pcap(linkEthernet, encEthernet, 0) }

	// Link, network and transport layers (hostile_net.go).
	h := hostileTruncated()
	add("truncated.pcap", eth(h), h.expect("records cut below their length on the wire (caplen < len) inside the "+
		"Ethernet, IPv4, IPv6, TCP and UDP headers, inside a ClientHello and a DNS answer; a record of 0 bytes; "+
		"records whose length on the wire is smaller than what was captured, or 4 GB"))
	h = hostileSession()
	add("snaplen64.pcap", h.pcap(linkEthernet, encEthernet, 64), h.expect("a whole Messenger session (DNS, MSNP with "+
		"an XFR redirect, TLS, the HTTP gateway) captured with snaplen 64: every record is cut to 64 bytes"))
	add("snaplen64.pcapng", h.pcapng(linkEthernet, encEthernet, 64), h.expect("snaplen64.pcap as a pcapng whose "+
		"interface declares snaplen 64"))
	h = hostileIPv4()
	add("ipv4-header.pcap", eth(h), h.expect("IPv4 headers that contradict themselves or the frame (caplen == len "+
		"for every record): IHL < 5, IHL past the total length, total length < IHL, total length > the frame"))
	h = hostileTCP()
	add("tcp-offset.pcap", eth(h), h.expect("TCP data offsets < 5 and past the segment, segments shorter than a TCP header"))
	h = hostileUDP()
	add("udp-length.pcap", eth(h), h.expect("UDP lengths < 8 and past the datagram, datagrams shorter than a UDP header"))
	h = hostileIPv6Length()
	add("ipv6-length.pcap", eth(h), h.expect("IPv6 payload lengths that overrun the frame or end inside the TCP header"))
	h = hostileIPv6Ext()
	add("ipv6-ext.pcap", eth(h), h.expect("IPv6 extension header chains that overrun the packet or repeat 10 to 100 deep"))
	h = hostileICMP()
	add("icmp-quotes.pcap", eth(h), h.expect("ICMP and ICMPv6 errors quoting truncated or garbage headers"))
	h = hostileEthernet()
	add("ethernet-junk.pcap", eth(h), h.expect("Ethernet frames too short for their headers, 5 stacked VLAN tags"))
	h = hostileFragments()
	add("fragments.pcap", eth(h), h.expect("overlapping, duplicate, out-of-order, tiny and oversized IPv4 and IPv6 fragments"))
	h = hostileJumbo()
	add("jumbo.pcapng", h.pcapng(linkEthernet, encEthernet, 0), h.expect("9000-byte IPv4 and IPv6 jumbo frames "+
		"captured whole: TCP with MSS 8960 and UDP datagrams"))
	full := eth(h)
	last := lastRecordOffset(full)
	caplen := int(binary.LittleEndian.Uint32(full[last+8:]))
	e := h.expect(fmt.Sprintf("jumbo.pcapng as a pcap, the file cut at offset %d, in the middle of its last "+
		"record (%d bytes at offset %d)", last+16+caplen/2, caplen, last))
	e.Packets--
	e.Truncated = true
	add("jumbo-cut.pcap", full[:last+16+caplen/2], e)

	// Payloads (hostile_app.go).
	h = hostileHTTP()
	add("http-long-header.pcap", eth(h), h.expect("HTTP requests and a response with a 100 KB header line, a 100 KB "+
		"request target and a 100 KB Host value, each over many TCP segments"))
	h = hostileTLS()
	add("tls-lying-lengths.pcap", eth(h), h.expect("ClientHellos whose lengths lie: extensions past the record, "+
		"server_name list and name lengths too long or zero, handshake and record lengths, one-byte records, a "+
		"300-byte name split across records; over TCP, 16-byte segments, an overlap rewriting the name and "+
		"sequence numbers wrapping past 2^32"))
	h = hostileNames()
	add("hostile-names.pcap", eth(h), h.expect("SNI, HTTP Host, CONNECT targets and DNS names with control "+
		"characters, ANSI escape sequences (\\x1b[2J, \\x1b]0;pwned\\x07), bidi overrides, C1 controls, "+
		"invalid UTF-8, spreadsheet formulas and lengths of 1 KB to 5 KB, on failing Messenger flows"))
	h = hostileDNS()
	add("dns.pcap", eth(h), h.expect("DNS messages with compression pointer loops, forward and 100-hop pointers, "+
		"labels > 63, names > 255, lying counts and record lengths, CNAME loops and a 20-deep chain, over UDP and TCP"))
	h = hostileMSNP()
	var gz bytes.Buffer
	must(writePcapGz(&gz, h.capture, linkEthernet, encEthernet))
	add("msnp-long-line.pcap.gz", gz.Bytes(), h.expect("MSNP: a 1 MB line without CRLF as the client's first "+
		"bytes and from a logged-in server, payload commands claiming 4 GB (gzip-compressed pcap)"))
	h = hostileSLP()
	add("slp-endpoints.pcap", eth(h), h.expect("MSNSLP and legacy invitations announcing 1000 endpoints each, "+
		"in 1000 headers and in one header"))

	// Files that must be refused.
	add(hugeCaplen())
	add(hugeBlock())
	add(hugeEPBCaplen())
	return files
}

// lastRecordOffset is the offset of the last record of a classic little-endian pcap.
func lastRecordOffset(b []byte) int {
	off, last := 24, 24
	for off+16 <= len(b) {
		last = off
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return last
}

// oneFlow is a tiny MSNP session on TCP 1863, the good packets before a lie.
func oneFlow() *hostile {
	h := newHostile()
	h.tcp(nsIP+":1863", want{}).tinyMSNP()
	return h
}

// hugeCaplen: good packets, then a record header claiming a 4 GB capture length.
func hugeCaplen() (string, []byte, hostileExpectation) {
	h := oneFlow()
	b := h.pcap(linkEthernet, encEthernet, 0)
	at := len(b)
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(baseTime.Add(time.Second).Unix()))
	binary.LittleEndian.PutUint32(rec[8:], 0xffffffff)
	binary.LittleEndian.PutUint32(rec[12:], 0xffffffff)
	b = append(append(b, rec...), bytes.Repeat([]byte{0xa5}, 64)...)
	return "huge-caplen.pcap", b, hostileExpectation{Packets: len(h.pkts), Error: true, Offset: at, FieldOffset: at + 8,
		Note: fmt.Sprintf("%d good records, then a record header at offset %d claiming caplen 4294967295 (4 GB), "+
			"followed by 64 bytes: the reader must refuse it without allocating 4 GB", len(h.pkts), at)}
}

// hugeBlock: good packets, then a pcapng block claiming a 4 GB total length.
func hugeBlock() (string, []byte, hostileExpectation) {
	h := oneFlow()
	b := h.pcapng(linkEthernet, encEthernet, 0)
	at := len(b)
	blk := binary.LittleEndian.AppendUint32(nil, 6)
	blk = binary.LittleEndian.AppendUint32(blk, 0xfffffffc)
	blk = append(blk, bytes.Repeat([]byte{0xa5}, 64)...)
	b = append(b, blk...)
	return "huge-block.pcapng", b, hostileExpectation{Packets: len(h.pkts), Error: true, Offset: at, FieldOffset: at + 4,
		Note: fmt.Sprintf("%d good packets, then an enhanced packet block at offset %d whose block total length "+
			"(at %d) is 4294967292 (4 GB), followed by 64 bytes", len(h.pkts), at, at+4)}
}

// hugeEPBCaplen: good packets, then a 64-byte enhanced packet block whose captured length says 4 GB.
func hugeEPBCaplen() (string, []byte, hostileExpectation) {
	h := oneFlow()
	b := h.pcapng(linkEthernet, encEthernet, 0)
	at := len(b)
	epb := ngEPBLen(0, uint64(baseTime.Add(time.Second).UnixNano()), bytes.Repeat([]byte{0xa5}, 32), 0xffffffff)
	binary.LittleEndian.PutUint32(epb[20:], 0xffffffff)
	b = append(b, epb...)
	return "huge-epb-caplen.pcapng", b, hostileExpectation{Packets: len(h.pkts), Error: true, Offset: at, FieldOffset: at + 20,
		Note: fmt.Sprintf("%d good packets, then a %d-byte enhanced packet block at offset %d whose captured "+
			"length (at %d) is 4294967295", len(h.pkts), len(epb), at, at+20)}
}
