//go:build linux

package main

// The live engines' benchmark (testdata/live-bench.sh runs it): a UDP
// blaster of our own sends to UDP 7001 (a Messenger port: AF_PACKET's
// socket filter passes every packet) from one namespace to another at a
// series of paced rates, while `msnaudit watch` watches the sender's
// interface (egress: every packet sent crosses it once) with each engine
// in turn, and with none for a baseline. Per engine and rate it reports the
// packets sent, the packets the engine counted, the packets it lost
// (AF_PACKET: the kernel's ring drop counter; eBPF: sent minus counted),
// and CPU per million packets: the watch process, the eBPF programs in the
// kernel (bpf_stats), and the sender's own CPU beyond the baseline's (where
// AF_PACKET's in-kernel copy and the tc program run). Root only, and only
// when MSNAUDIT_LIVE_BENCH is set.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/net/ipv4"
)

const benchEnv = "MSNAUDIT_LIVE_BENCH" // rates in packets/s, comma-separated; 0: as fast as the sender can

// blastResult is what the blaster prints.
type blastResult struct {
	Sent    uint64  `json:"sent"`
	Errors  uint64  `json:"errors"`
	Seconds float64 `json:"seconds"`
}

// TestLiveBenchHelper is the blaster, run in a namespace by TestLiveBench.
func TestLiveBenchHelper(t *testing.T) {
	spec := os.Getenv("MSNAUDIT_BENCH_BLAST") // target,flows,senders,rate,seconds,size
	if spec == "" {
		t.Skip("the blaster of TestLiveBench")
	}
	res, err := blast(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "blast:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	os.Exit(0)
}

// blast sends size-byte datagrams to target from flows sockets (one flow
// each) shared by senders goroutines, round robin in batches of sendmmsg,
// paced to rate packets/s in all (0: as fast as they can), for seconds:
// count and time are both bounded.
func blast(spec string) (blastResult, error) {
	f := strings.Split(spec, ",")
	if len(f) != 6 {
		return blastResult{}, fmt.Errorf("spec %q: want target,flows,senders,rate,seconds,size", spec)
	}
	to, err := net.ResolveUDPAddr("udp4", f[0])
	if err != nil {
		return blastResult{}, err
	}
	nflows, err1 := strconv.Atoi(f[1])
	senders, err2 := strconv.Atoi(f[2])
	rate, err3 := strconv.ParseFloat(f[3], 64)
	secs, err4 := strconv.ParseFloat(f[4], 64)
	size, err5 := strconv.Atoi(f[5])
	if errors.Join(err1, err2, err3, err4, err5) != nil || senders < 1 || nflows < senders || size < 20 || secs <= 0 || secs > 60 || rate < 0 {
		return blastResult{}, fmt.Errorf("spec %q: bad numbers", spec)
	}
	const batch = 32
	type sender struct {
		conns []*ipv4.PacketConn
		msgs  [][]ipv4.Message
		res   blastResult
	}
	ss := make([]*sender, senders)
	for i := range ss {
		ss[i] = &sender{}
	}
	for i := range nflows {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return blastResult{}, err
		}
		defer c.Close()
		c.SetWriteBuffer(4 << 20)
		s := ss[i%senders]
		s.conns = append(s.conns, ipv4.NewPacketConn(c))
		ms := make([]ipv4.Message, batch)
		for j := range ms {
			b := make([]byte, size)
			b[0], b[1] = 2, 1 // an echo probe's first bytes: the flow is named from the first
			ms[j] = ipv4.Message{Buffers: [][]byte{b}, Addr: to}
		}
		s.msgs = append(s.msgs, ms)
	}
	rate /= float64(senders)
	limit := uint64(rate * secs)
	start := time.Now()
	end := start.Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			res := &s.res
			for i := 0; ; i++ {
				now := time.Now()
				if !now.Before(end) || limit > 0 && res.Sent >= limit {
					break
				}
				if rate > 0 {
					if due := start.Add(time.Duration(float64(res.Sent) / rate * float64(time.Second))); now.Before(due) {
						time.Sleep(due.Sub(now))
					}
				}
				ms := s.msgs[i%len(s.msgs)]
				for j := range ms {
					binary.BigEndian.PutUint64(ms[j].Buffers[0][8:], res.Sent+uint64(j))
				}
				n, err := s.conns[i%len(s.conns)].WriteBatch(ms, 0)
				if n > 0 {
					res.Sent += uint64(n)
				}
				if err != nil {
					res.Errors++ // ENOBUFS and the like: not sent, not counted
				}
			}
		})
	}
	wg.Wait()
	var res blastResult
	for _, s := range ss {
		res.Sent += s.res.Sent
		res.Errors += s.res.Errors
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// benchRow is one engine at one rate.
type benchRow struct {
	engine        string
	rate          float64
	blast         blastResult
	counted, lost uint64
	eventsLost    uint64
	// CPU from the blast's start to 300 ms after its end: the watch process,
	// the eBPF engine's tc and kfree_skb programs (in the kernel, charged to
	// whoever sent or dropped the packet), the whole machine.
	watchCPU, tcCPU, dropCPU, machineCPU time.Duration
	notes                                string
}

func TestLiveBench(t *testing.T) {
	spec := os.Getenv(benchEnv)
	if spec == "" {
		t.Skip("a benchmark: set " + benchEnv + "=RATE,RATE,... (packets/s; 0 = as fast as the sender can), or run testdata/live-bench.sh")
	}
	requireEBPF(t)
	secs := 3.0
	if s := os.Getenv("MSNAUDIT_LIVE_BENCH_SECONDS"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 || v > 60 {
			t.Fatalf("MSNAUDIT_LIVE_BENCH_SECONDS=%q: want seconds in (0, 60]", s)
		}
		secs = v
	}
	bufferMB := 64 // watch's default
	if s := os.Getenv("MSNAUDIT_LIVE_BENCH_BUFFER"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("MSNAUDIT_LIVE_BENCH_BUFFER=%q: want MiB", s)
		}
		bufferMB = v
	}
	t.Logf("%g s per run, AF_PACKET ring %d MiB, %d sender threads", secs, bufferMB, runtime.NumCPU())
	var rates []float64
	for _, f := range strings.Split(spec, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			t.Fatalf("%s=%q: %q is not a rate", benchEnv, spec, f)
		}
		rates = append(rates, v)
	}
	const flows, size = 8, 64
	senders := runtime.NumCPU() // every core sends: the watch competes for CPU as on a busy gateway
	bin := buildBinary(t)
	nsA, nsB := vethPair(t)
	// The receiver drops the datagrams for want of a socket, quietly: no
	// ICMP errors, which would count in the flows.
	runCmd(t, `table inet bench {
	chain output {
		type filter hook output priority 0; policy accept;
		icmp type destination-unreachable drop
	}
}
`, "ip", "netns", "exec", nsB, "nft", "-f", "-")
	if old, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); err == nil {
		if os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", []byte("1"), 0o644) == nil {
			t.Cleanup(func() { os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", old, 0o644) })
		}
	}
	dir := t.TempDir()
	var rows []benchRow
	for _, rate := range rates {
		for _, engine := range []string{"none", engineAFPacket, engineEBPF, "tcpdump"} {
			row := benchRow{engine: engine, rate: rate}
			report := filepath.Join(dir, engine+".json")
			var w *watchProc
			var cpu0 time.Duration
			var prog0 map[string]time.Duration
			var td *tcpdumpProc
			if engine == "tcpdump" {
				td = startTcpdump(t, nsA, "a0", bufferMB)
				cpu0 = procCPU(td.cmd.Process.Pid)
			} else if engine != "none" {
				w = startWatch(t, nsA, bin, "--engine", engine, "-i", "a0", "--interval", "1s", "--all-flows",
					"--buffer", strconv.Itoa(bufferMB), "--format", "json", "-o", report)
				cpu0, prog0 = procCPU(w.cmd.Process.Pid), progCPU(t, w.cmd.Process.Pid)
			}
			busy0 := machineCPU()
			cmd := exec.Command("ip", "netns", "exec", nsA, os.Args[0], "-test.run=^TestLiveBenchHelper$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("MSNAUDIT_BENCH_BLAST=10.201.0.2:7001,%d,%d,%g,%g,%d", flows, senders, rate, secs, size))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("blaster: %v\n%s", err, out)
			}
			if err := json.Unmarshal(out[strings.LastIndexByte(strings.TrimSpace(string(out)), '\n')+1:], &row.blast); err != nil {
				t.Fatalf("blaster output %q: %v", out, err)
			}
			time.Sleep(300 * time.Millisecond) // the watch catches up with its ring
			row.machineCPU = machineCPU() - busy0
			if w != nil {
				row.watchCPU = procCPU(w.cmd.Process.Pid) - cpu0
				for name, d := range progCPU(t, w.cmd.Process.Pid) {
					if strings.HasPrefix(name, "tc_") {
						row.tcCPU += d - prog0[name]
					} else {
						row.dropCPU += d - prog0[name]
					}
				}
				if code := w.stop(t, true); code != exitOK && code != exitBlocked {
					t.Fatalf("%s: exit status %d; stderr:\n%s", engine, code, w.stderr)
				}
				r := readReport(t, report)
				for _, f := range r.Flows {
					if f.Transport == "udp" && f.Server == "10.201.0.2:7001" {
						row.counted += f.Packets
					}
				}
				row.eventsLost = r.Capture.EventsLost
				switch engine {
				case engineAFPacket:
					row.lost = r.Capture.KernelDrops
				case engineEBPF:
					if row.blast.Sent > row.counted {
						row.lost = row.blast.Sent - row.counted
					}
				}
				if r.Capture.KernelFlowsEvicted > 0 {
					row.notes = fmt.Sprintf("%d kernel flows evicted", r.Capture.KernelFlowsEvicted)
				}
			}
			if td != nil {
				row.watchCPU = procCPU(td.cmd.Process.Pid) - cpu0
				row.counted, row.lost = td.stop(t)
			}
			rows = append(rows, row)
			t.Logf("%-8s rate %8.0f: sent %9d (%8.0f/s, %d send errors) counted %9d lost %8d events lost %d; CPU: watch %v, tc %v, kfree_skb %v, machine %v %s",
				engine, rate, row.blast.Sent, float64(row.blast.Sent)/row.blast.Seconds, row.blast.Errors, row.counted, row.lost,
				row.eventsLost, row.watchCPU, row.tcCPU.Round(time.Millisecond), row.dropCPU.Round(time.Millisecond), row.machineCPU, row.notes)
		}
	}
	t.Logf("\n%s", benchTable(rows))
}

// benchTable prints the rows as markdown, with the first rate at which each
// engine lost packets.
func benchTable(rows []benchRow) string {
	var b strings.Builder
	perM := func(d time.Duration, n uint64) float64 { return d.Seconds() * 1e3 / float64(max(n, 1)) * 1e6 }
	base := map[float64]benchRow{}
	for _, r := range rows {
		if r.engine == "none" {
			base[r.rate] = r
		}
	}
	b.WriteString("| engine | target pkt/s | sent pkt/s | sent | counted | lost | CPU ms per Mpkt: watch process | tc program | kfree_skb program | whole machine | over none |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	firstLoss := map[string]string{}
	for _, r := range rows {
		target := "max"
		if r.rate > 0 {
			target = fmt.Sprintf("%.0f", r.rate)
		}
		sendRate := float64(r.blast.Sent) / r.blast.Seconds
		machine := perM(r.machineCPU, r.blast.Sent)
		counted, lost, watch, tc, drop, over := "-", "-", "-", "-", "-", "-"
		if r.engine != "none" {
			counted, lost = strconv.FormatUint(r.counted, 10), strconv.FormatUint(r.lost, 10)
			watch = fmt.Sprintf("%.0f", perM(r.watchCPU, r.blast.Sent))
			if r.engine == engineEBPF {
				tc, drop = fmt.Sprintf("%.0f", perM(r.tcCPU, r.blast.Sent)), fmt.Sprintf("%.0f", perM(r.dropCPU, r.blast.Sent))
			}
			if bl, ok := base[r.rate]; ok {
				over = fmt.Sprintf("%+.0f", machine-perM(bl.machineCPU, bl.blast.Sent))
			}
			if r.lost > 0 && firstLoss[r.engine] == "" {
				firstLoss[r.engine] = fmt.Sprintf("%.0f pkt/s sent (target %s): %d of %d lost", sendRate, target, r.lost, r.blast.Sent)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %d | %s | %s | %s | %s | %s | %.0f | %s |\n", r.engine, target, sendRate, r.blast.Sent,
			counted, lost, watch, tc, drop, machine, over)
	}
	for _, e := range []string{engineAFPacket, engineEBPF, "tcpdump"} {
		if s := firstLoss[e]; s != "" {
			fmt.Fprintf(&b, "\n%s first lost packets at %s", e, s)
		} else {
			fmt.Fprintf(&b, "\n%s lost no packet at any rate tried", e)
		}
	}
	return b.String()
}

// machineCPU is the time every CPU of the machine spent busy (/proc/stat:
// all but idle and iowait).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // user nice system idle iowait irq softirq steal
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ
}

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// procCPU is a running process's user and system time (/proc/PID/stat).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / userHZ
}

// progCPU is the run time of each eBPF program a process holds, by name
// (kernel.bpf_stats_enabled must be 1).
func progCPU(t *testing.T, pid int) map[string]time.Duration {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	out := map[string]time.Duration{}
	seen := map[uint64]bool{}
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil || !strings.Contains(string(b), "prog_type:") {
			continue
		}
		var id uint64
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, _ := strings.Cut(line, ":"); k == "prog_id" {
				id, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			}
		}
		if id == 0 || seen[id] {
			continue
		}
		seen[id] = true
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			t.Logf("program %d: %v", id, err)
			continue
		}
		info, err := p.Info()
		st, err2 := p.Stats()
		p.Close()
		if err != nil || err2 != nil {
			continue
		}
		out[info.Name] += st.Runtime
	}
	return out
}

// tcpdumpProc is `tcpdump -i IFACE -w /dev/null`, the comparison the issue
// asks for, run with the same ring size as the watch.
type tcpdumpProc struct {
	cmd    *exec.Cmd
	stderr *lineLog
	done   chan error
}

func startTcpdump(t *testing.T, ns, iface string, bufferMB int) *tcpdumpProc {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatalf("tcpdump is not installed (apt-get install tcpdump): %v", err)
	}
	p := &tcpdumpProc{cmd: exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-n", "-Z", "root",
		"-B", strconv.Itoa(bufferMB*1024), "-w", "/dev/null"), done: make(chan error, 1)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stderr = readLines(stderr)
	go func() { <-p.stderr.ended(); p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); err := <-p.done; p.done <- err })
	p.stderr.wait(t, "tcpdump", "listening on")
	return p
}

// stop interrupts tcpdump and reads its closing counts.
func (p *tcpdumpProc) stop(t *testing.T) (captured, dropped uint64) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	err := <-p.done
	p.done <- err
	out := p.stderr.String()
	for _, line := range strings.Split(out, "\n") {
		var n uint64
		if _, err := fmt.Sscanf(line, "%d packets captured", &n); err == nil {
			captured = n
		}
		if _, err := fmt.Sscanf(line, "%d packets dropped by kernel", &n); err == nil {
			dropped = n
		}
	}
	return captured, dropped
}
