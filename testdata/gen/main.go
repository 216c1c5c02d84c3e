// Command gen writes msnaudit's test captures and their expectations.
//
//	go run ./testdata/gen [-dir DIR]
//	go run ./testdata/gen -big N -o FILE   (a large capture for benchmarks: big.go)
//
// Every capture is built from fixed addresses, ports, sequence numbers and
// times, so running it twice writes identical files. Next to each capture it
// writes <file>.expect.json, the ground truth the classifier tests check.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gopacket/gopacket/layers"
)

func main() {
	dir := flag.String("dir", defaultDir(), "directory to write the captures into")
	quiet := flag.Bool("q", false, "do not list the files written")
	big := flag.Int("big", 0, "instead, write a gateway-shaped capture of `N` packets to -o (see big.go)")
	out := flag.String("o", "", "with -big: the `file` to write (.pcapng: pcapng, .gz: gzip-compressed, -: standard output)")
	flag.Parse()
	if *big > 0 {
		if err := runBig(*big, *out, *quiet); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		return
	}
	files := generate()
	if err := writeFiles(*dir, files); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if !*quiet {
		for _, f := range files {
			if f.packets >= 0 {
				fmt.Printf("%-28s %7d bytes %4d packets\n", f.name, len(f.data), f.packets)
			}
		}
	}
}

// defaultDir is the testdata directory this source file lives under.
func defaultDir() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Dir(filepath.Dir(file))
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return "testdata"
}

// file is one generated file, by slash-separated path under the output directory.
type file struct {
	name    string
	data    []byte
	packets int // packet records, -1 for expectation files
}

func writeFiles(dir string, files []file) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writer serializes a capture into one file format.
type writer func(io.Writer, *capture) error

func pcapOf(lt layers.LinkType, e encap) writer {
	return func(w io.Writer, c *capture) error { return writePcap(w, c, lt, e) }
}
func pcapngOf(lt layers.LinkType, e encap) writer {
	return func(w io.Writer, c *capture) error { return writePcapng(w, c, lt, e) }
}
func pcapGzOf(lt layers.LinkType, e encap) writer {
	return func(w io.Writer, c *capture) error { return writePcapGz(w, c, lt, e) }
}
func pcapBENanosOf(lt layers.LinkType, e encap) writer {
	return func(w io.Writer, c *capture) error { return writePcapBENanos(w, c, lt, e) }
}
func pcapngMultiOf(ifs ...ngIface) writer {
	return func(w io.Writer, c *capture) error { return writePcapngMulti(w, c, ifs) }
}

// generate builds every file, in a fixed order.
func generate() []file {
	var files []file
	add := func(name string, c *capture, w writer) {
		var b bytes.Buffer
		if err := w(&b, c); err != nil {
			panic(fmt.Sprintf("%s: %v", name, err))
		}
		files = append(files, file{name, b.Bytes(), len(c.pkts)},
			file{name + ".expect.json", marshalExpect(c.expectation()), -1})
	}
	eth := pcapOf(linkEthernet, encEthernet)

	s := sample()
	add("sample.pcapng", s, pcapngOf(linkEthernet, encEthernet))
	add("sample.pcap.gz", s, pcapGzOf(linkEthernet, encEthernet))
	add("outcomes.pcapng", outcomes(), pcapngOf(linkEthernet, encEthernet))

	ns4, ns6 := nsIP+":1863", "[2001:db8:1::20]:1863"
	add("link-ethernet.pcap", linkFlow(ns4, 0), eth)
	add("link-vlan.pcap", linkFlow(ns4, 0), pcapOf(linkEthernet, encVLAN))
	add("link-qinq.pcap", linkFlow(ns4, 0), pcapOf(linkEthernet, encQinQ))
	add("link-sll.pcap", linkFlow(ns4, 0), pcapOf(linkSLL, encSLL))
	add("link-sll2.pcap", linkFlow(ns4, 0), pcapOf(linkSLL2, encSLL2))
	add("link-raw.pcap", linkFlow(ns4, 0), pcapOf(linkRaw, encRaw))
	add("link-ipv4.pcap", linkFlow(ns4, 0), pcapOf(linkIPv4, encRaw))
	add("link-ipv6.pcap", linkFlow(ns6, 0), pcapOf(linkIPv6, encRaw))
	add("link-null.pcap", linkFlow(ns4, 0), pcapOf(linkNull, encNull))
	add("link-loop.pcap", linkFlow(ns4, 0), pcapOf(linkLoop, encLoop))
	add("link-be-nanos.pcap", linkFlow(ns4, 123456789*time.Nanosecond), pcapBENanosOf(linkEthernet, encEthernet))
	add("link-multi.pcapng", linkMulti(), pcapngMultiOf(
		ngIface{lt: linkEthernet, enc: encEthernet, name: "eth0"},
		ngIface{lt: linkIPv4, enc: encRaw, name: "tun0", tsresol: 9}))

	add("ipv6.pcapng", ipv6(), pcapngOf(linkEthernet, encEthernet))
	add("fragments.pcap", fragments(), eth)
	add("tls-split.pcap", tlsSplit(), eth)
	add("gateway.pcap", gateway(), eth)
	add("filetransfer.pcap", fileTransferCapture(), eth)
	add("background.pcap", backgroundCapture(), eth)
	add("sip-relay.pcap", sipRelay(), eth)

	files = append(files, hostileFiles()...)
	return append(files, badFiles()...)
}
