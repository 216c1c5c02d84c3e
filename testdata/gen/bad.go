package main

// Inputs msnaudit must reject (exit 2, naming the file, the problem and the
// offset) or read only in part.

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

func badFiles() []file {
	var files []file
	add := func(name string, data []byte, e badExpectation) {
		files = append(files, file{"bad/" + name, data, e.Packets},
			file{"bad/" + name + ".expect.json", marshalExpect(e), -1})
	}

	add("not-a-capture.txt", []byte("This is a text file, not a packet capture.\n"+
		"msnaudit must say which file, what is wrong, and at what offset.\n"),
		badExpectation{Error: "not_a_capture", Note: "no pcap or pcapng magic number at offset 0"})

	add("empty.pcap", []byte{}, badExpectation{Error: "empty", Note: "0 bytes"})

	var hdr bytes.Buffer
	must(writePcap(&hdr, newCapture(), linkEthernet, encEthernet))
	add("header-only.pcap", hdr.Bytes(), badExpectation{Note: "valid pcap header, no packets: readable, nothing to audit"})

	// truncated.pcap: outcomes as a pcap, cut in the middle of the packet record
	// that holds the byte at 60% of the file.
	c := outcomes()
	var full bytes.Buffer
	must(writePcap(&full, c, linkEthernet, encEthernet))
	b := full.Bytes()
	off, n := 24, 0
	for {
		caplen := int(binary.LittleEndian.Uint32(b[off+8:]))
		end := off + 16 + caplen
		if end > len(b)*6/10 {
			add("truncated.pcap", b[:off+16+caplen/2], badExpectation{Packets: n, Truncated: true, Offset: off,
				Note: fmt.Sprintf("outcomes.pcapng as a pcap, cut in the middle of record %d (at offset %d); "+
					"flows are not listed: the cut moves the end of the capture and so the outcomes", n+1, off)})
			break
		}
		off, n = end, n+1
	}

	// corrupt.pcapng: a valid section and interface, then an EPB whose block total length is 7.
	shbIDB := append(ngSHB(), ngIDB(linkEthernet, "eth0", 9)...)
	epb := binary.LittleEndian.AppendUint32(nil, 6)
	epb = binary.LittleEndian.AppendUint32(epb, 7)
	epb = append(epb, make([]byte, 24)...)
	add("corrupt.pcapng", append(shbIDB, epb...), badExpectation{Error: "corrupt", Offset: len(shbIDB),
		Note: fmt.Sprintf("enhanced packet block at offset %d with block total length 7 (the length field is at %d)", len(shbIDB), len(shbIDB)+4)})

	// unknown-link.pcap: a pcap of LINKTYPE 147 (user 0) with one packet.
	flow := linkFlow(nsIP+":1863", 0)
	flow.pkts = flow.pkts[:1]
	var unk bytes.Buffer
	must(writePcap(&unk, flow, 147, encRaw))
	add("unknown-link.pcap", unk.Bytes(), badExpectation{Error: "unsupported_link", Offset: 20,
		Note: "link type 147 (LINKTYPE_USER0) in the file header field at offset 20; the one packet record after it is well formed"})

	// huge-record.pcap: one good packet, then a record header claiming a 4 GB capture length.
	var huge bytes.Buffer
	must(writePcap(&huge, flow, linkEthernet, encEthernet))
	at := huge.Len()
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(baseTime.Unix()+1))
	binary.LittleEndian.PutUint32(rec[8:], 0xffffffff)
	binary.LittleEndian.PutUint32(rec[12:], 0xffffffff)
	huge.Write(rec)
	huge.Write(make([]byte, 64))
	add("huge-record.pcap", huge.Bytes(), badExpectation{Error: "record_too_large", Packets: 1, Offset: at,
		Note: fmt.Sprintf("the second record header, at offset %d, claims caplen 4294967295 (4 GB)", at)})
	return files
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
