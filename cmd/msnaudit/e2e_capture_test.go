//go:build linux

package main

// Root-only tests of the live capture's edges with the real binary: VLAN
// tags put back, the "any" device, an interface going down, a full disk for
// -w, and no CAP_NET_RAW.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

// e2eUDP sends count datagrams of size bytes to target.
func e2eUDP(target, count, size string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	sz, err := strconv.Atoi(size)
	if err != nil {
		return err
	}
	to, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return err
	}
	// Not connected: the port unreachable errors that come back do not make
	// the next sends fail, so all n are sent.
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	b := make([]byte, sz)
	if sz == 20 {
		b[0], b[1] = 2, 1 // an echo probe
	}
	for i := range n {
		binary.BigEndian.PutUint32(b[16%len(b):], uint32(i))
		if _, err := c.WriteToUDP(b, to); err != nil {
			return err
		}
	}
	return nil
}

func udpTo(t *testing.T, ns, target string, count, size int) {
	t.Helper()
	cmd := helperCmd(ns, "udp", "MSNAUDIT_E2E_TARGET="+target, "MSNAUDIT_E2E_COUNT="+strconv.Itoa(count), "MSNAUDIT_E2E_SIZE="+strconv.Itoa(size))
	cmd.Stderr = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("udp helper: %v\n%s", err, out)
	}
}

func dialTo(t *testing.T, ns, target string) {
	t.Helper()
	cmd := helperCmd(ns, "dial", "MSNAUDIT_E2E_TARGET="+target)
	cmd.Stderr = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dial helper: %v\n%s", err, out)
	}
}

// vethPair links namespace a (interface "a0", 10.201.0.1) and b ("b0",
// 10.201.0.2).
func vethPair(t *testing.T) (a, b string) {
	ns := newNamespaces(t, "a", "b")
	a, b = ns[0], ns[1]
	runCmd(t, "", "ip", "-n", a, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", b)
	for _, c := range [][]string{
		{a, "a0", "10.201.0.1/24"}, {b, "b0", "10.201.0.2/24"},
	} {
		runCmd(t, "", "ip", "-n", c[0], "addr", "add", c[2], "dev", c[1])
		runCmd(t, "", "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	return a, b
}

func readPcapng(t *testing.T, path string) []capture.Packet {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []capture.Packet
	for {
		var p capture.Packet
		err := src.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
	}
}

func flowOutcome(r *classify.Report, transport, server string) (classify.Outcome, bool) {
	for _, f := range r.Flows {
		if f.Transport == transport && f.Server == server {
			return f.Outcome, true
		}
	}
	return 0, false
}

// VLAN tags the kernel took off are put back, after the socket filter
// judged the frame; two workers deliver in time order. (Tagged frames are
// sent raw on a0: VLAN devices need a kernel with 802.1Q, and the receiving
// side takes the tag off into the packet's metadata either way.)
func TestWatchVLAN(t *testing.T) {
	requireE2E(t)
	bin := buildBinary(t)
	nsA, nsB := vethPair(t)
	dir := t.TempDir()
	pcap, report := filepath.Join(dir, "b0.pcapng"), filepath.Join(dir, "b0.json")
	w := startWatch(t, nsB, bin, "--engine", "afpacket", "-i", "b0", "--workers", "2", "--format", "json", "-o", report, "-w", pcap)
	cmd := helperCmd(nsA, "vlan", "MSNAUDIT_E2E_IFACE=a0")
	cmd.Stderr = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vlan helper: %v\n%s", err, out)
	}
	if code := w.stop(t, true); code != exitOK && code != exitBlocked {
		t.Fatalf("exit status %d; stderr:\n%s", code, w.stderr)
	}
	r := readReport(t, report)
	if _, ok := flowOutcome(r, "udp", "10.201.7.2:7001"); !ok {
		t.Errorf("%s: the tagged UDP 7001 flow is not listed", report)
	}
	pkts := readPcapng(t, pcap)
	if len(pkts) != vlanFrames {
		t.Errorf("%s: %d packets, want the %d frames to UDP 7001 (those to 40000 filtered out)", pcap, len(pkts), vlanFrames)
	}
	for i, p := range pkts {
		if p.Link != capture.LinkEthernet || len(p.Data) < 18+28 || binary.BigEndian.Uint16(p.Data[12:]) != 0x8100 ||
			binary.BigEndian.Uint16(p.Data[14:]) != 0x2007 || binary.BigEndian.Uint16(p.Data[18+22:]) != 7001 {
			t.Errorf("%s: packet %d is not the 802.1Q frame (priority 1, VLAN 7) to UDP 7001 that was sent: %x", pcap, i, p.Data[:min(len(p.Data), 48)])
		}
		if i > 0 && p.Time < pkts[i-1].Time {
			t.Errorf("%s: packet %d is older than the one before it", pcap, i)
		}
	}
}

// vlanFrames is how many tagged frames to UDP 7001 the vlan helper sends
// (and as many to UDP 40000).
const vlanFrames = 6

// e2eVLAN sends 802.1Q-tagged UDP frames (VLAN 7, priority 1) raw on iface.
func e2eVLAN(iface string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	to := &syscall.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	for i := range 2 * vlanFrames {
		port := layers.UDPPort(7001)
		if i%2 == 1 {
			port = 40000
		}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IPv4(10, 201, 7, 1).To4(), DstIP: net.IPv4(10, 201, 7, 2).To4()}
		udp := &layers.UDP{SrcPort: 40001, DstPort: port}
		udp.SetNetworkLayerForChecksum(ip)
		probe := make([]byte, 20)
		probe[0], probe[1] = 2, 1
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: ifi.HardwareAddr, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{Priority: 1, VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(probe)); err != nil {
			return err
		}
		if err := syscall.Sendto(fd, buf.Bytes(), 0, to); err != nil {
			return err
		}
	}
	return nil
}

// "any" delivers cooked (SLL2) frames with the packet's direction.
func TestWatchAny(t *testing.T) {
	requireE2E(t)
	bin := buildBinary(t)
	nsA, nsB := vethPair(t)
	dir := t.TempDir()
	pcap, report := filepath.Join(dir, "any.pcapng"), filepath.Join(dir, "any.json")
	w := startWatch(t, nsB, bin, "--engine", "afpacket", "-i", "any", "--workers", "2", "--format", "json", "-o", report, "-w", pcap)
	anyScenario(t, w, nsA, report)
	pkts := readPcapng(t, pcap)
	if len(pkts) < 7 {
		t.Fatalf("%s: %d packets", pcap, len(pkts))
	}
	in, out := 0, 0
	for i, p := range pkts {
		if p.Link != capture.LinkLinuxSLL2 || len(p.Data) < 20+28 || binary.BigEndian.Uint16(p.Data) != 0x0800 ||
			binary.BigEndian.Uint32(p.Data[4:]) <= 1 || binary.BigEndian.Uint16(p.Data[8:]) != 1 || p.Data[11] != 6 || p.Data[20]>>4 != 4 {
			t.Errorf("%s: packet %d is not an SLL2 frame of IPv4 on an Ethernet device: %x", pcap, i, p.Data[:min(len(p.Data), 32)])
			continue
		}
		if p.Data[20+9] == 17 && binary.BigEndian.Uint16(p.Data[20+22:]) == 40000 {
			t.Errorf("%s: packet %d to UDP 40000 passed the socket filter", pcap, i)
		}
		switch p.Data[10] { // packet type
		case 0:
			in++
		case 4:
			out++
		}
	}
	if in == 0 || out == 0 {
		t.Errorf("%s: %d incoming and %d outgoing packets, want both", pcap, in, out)
	}
}

// An interface that goes down ends the watch with an error naming it, and
// the report of what was seen.
func TestWatchInterfaceDown(t *testing.T) {
	requireE2E(t)
	watchInterfaceDown(t, "afpacket")
}

// watchInterfaceDown runs the interface-down case with an engine.
func watchInterfaceDown(t *testing.T, engine string) {
	t.Helper()
	bin := buildBinary(t)
	nsA, nsB := vethPair(t)
	report := filepath.Join(t.TempDir(), "r.json")
	w := startWatch(t, nsB, bin, "--engine", engine, "-i", "b0", "--interval", "100ms", "--format", "json", "-o", report)
	udpTo(t, nsA, "10.201.0.2:7001", 2, 20)
	w.stdout.wait(t, "watch", `"outcome":"icmp_unreachable"`) // the watch has seen it
	runCmd(t, "", "ip", "-n", nsB, "link", "set", "b0", "down")
	if code := w.stop(t, false); code != exitBlocked {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
	}
	if !strings.Contains(w.stderr.String(), "msnaudit: interface b0: is down or went away; the report covers the packets read until then") {
		t.Errorf("stderr:\n%s", w.stderr)
	}
	r := readReport(t, report)
	if o, ok := flowOutcome(r, "udp", "10.201.0.2:7001"); !ok || o != classify.ICMPUnreachable || !r.Capture.Truncated {
		t.Errorf("report: udp 7001 %v (listed %v), truncated %v", o, ok, r.Capture.Truncated)
	}
}

// A full disk for -w is a clear error (exit 2), after the report.
func TestWatchFullDisk(t *testing.T) {
	requireE2E(t)
	bin := buildBinary(t)
	ns := newNamespaces(t, "disk")[0]
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	runCmd(t, "", "mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", full)
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	report := filepath.Join(dir, "r.json")
	w := startWatch(t, ns, bin, "--engine", "afpacket", "-i", "lo", "--all-traffic", "--format", "json", "-o", report, "-w", filepath.Join(full, "x.pcapng"))
	udpTo(t, ns, "127.0.0.1:7001", 50, 1000)
	code := w.stop(t, true)
	if code != exitUsage || !strings.Contains(w.stderr.String(), "msnaudit: -w "+filepath.Join(full, "x.pcapng")) ||
		!strings.Contains(w.stderr.String(), "no space left on device") {
		t.Errorf("exit status %d, want %d; stderr:\n%s", code, exitUsage, w.stderr)
	}
	if r := readReport(t, report); r.Capture.Packets < 100 {
		t.Errorf("the report counts %d packets", r.Capture.Packets)
	}
	if left, _ := os.ReadDir(full); len(left) != 0 {
		t.Errorf("left in the full file system: %v", left)
	}
}

// Without CAP_NET_RAW: one line that says so, exit status 2.
func TestWatchNeedsCapNetRaw(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	bin := buildBinary(t)
	ns := newNamespaces(t, "nocap")[0]
	cmd := exec.Command("ip", "netns", "exec", ns, "setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", bin, "watch", "--engine", "afpacket", "-i", "lo")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("%v, want exit status %d; output:\n%s", err, exitUsage, out)
	}
	if want := "msnaudit: interface lo: needs CAP_NET_RAW (run as root or grant the capability)\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// anyScenario sends, from nsA to the watch w's side of the veth pair, a
// datagram and a connection nobody listens for and datagrams to a port
// that is not Messenger's (filtered out by AF_PACKET's socket filter, only
// counted by the eBPF engine), stops w and checks the first two's verdicts
// in its report, which it returns.
func anyScenario(t *testing.T, w *watchProc, nsA, report string) *classify.Report {
	t.Helper()
	udpTo(t, nsA, "10.201.0.2:7001", 3, 20)  // no listener: ICMP port unreachable
	dialTo(t, nsA, "10.201.0.2:1503")        // no listener: RST
	udpTo(t, nsA, "10.201.0.2:40000", 3, 20) // not Messenger
	if code := w.stop(t, true); code != exitBlocked {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
	}
	r := readReport(t, report)
	if o, ok := flowOutcome(r, "udp", "10.201.0.2:7001"); !ok || o != classify.ICMPUnreachable {
		t.Errorf("%s: udp 7001: %v (listed %v), want icmp_unreachable", report, o, ok)
	}
	if o, ok := flowOutcome(r, "tcp", "10.201.0.2:1503"); !ok || o != classify.Refused {
		t.Errorf("%s: tcp 1503: %v (listed %v), want refused", report, o, ok)
	}
	return r
}
