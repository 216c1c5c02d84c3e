//go:build linux

package main

// End-to-end tests of `msnaudit watch --engine ebpf` with the real binary
// in network namespaces: the scenario of e2e_test.go again, drops by the
// auditing host's own nftables rules (kernel_drop), loopback and "any", an
// interface going down, and --engine auto falling back to AF_PACKET when
// eBPF cannot load. Root only; skipped with the reason elsewhere, failed
// under CI=true.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/msnaudit/msnaudit/bpf"
	"github.com/msnaudit/msnaudit/classify"
)

// e2eRefused is the outcome of the scenario's TCP 1503 flow, which the
// gateway's forward chain rejects with a TCP reset: refused from the
// packets; kernel_drop (NETFILTER_DROP) when the eBPF engine sees the
// gateway's own kernel drop the SYN.
func e2eRefused(kernelDrops bool) string {
	if kernelDrops {
		return classify.KernelDrop.String()
	}
	return classify.Refused.String()
}

// requireEBPF skips (or, under CI=true, fails) when this machine cannot run
// the eBPF engine, saying what it lacks.
func requireEBPF(t *testing.T) {
	t.Helper()
	requireE2E(t)
	e, err := bpf.Load(classify.Default(), bpf.Options{Drops: true})
	if err == nil {
		e.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but the eBPF engine cannot load: %v", err)
	}
	t.Skipf("the eBPF engine cannot load here: %v", err)
}

// The scenario of TestWatchEndToEnd with --engine ebpf: the same verdicts
// and flows; the flows the gateway's own forward chain drops or rejects are
// kernel_drop with NETFILTER_DROP, and the -w file (the packets the kernel
// sent user space) audits to the AF_PACKET outcomes.
func TestWatchEndToEndEBPF(t *testing.T) {
	requireEBPF(t)
	watchEndToEnd(t, engineEBPF)
}

// The nftables rules sit on the auditing host itself: its output chain
// drops its own connection to TCP 1863, its input chain a peer's connection
// to its TCP 1503. The first SYN never reaches a capture point (tc egress
// comes after the output hook); the eBPF engine names both drops.
//
// Run with each attach mode: TCX links, and the clsact filters of kernels
// without TCX, which the watch's helper removes when it ends.
func TestWatchEBPFHostDrops(t *testing.T) {
	requireEBPF(t)
	for _, mode := range []string{attachTCX, attachTC} {
		t.Run(mode, func(t *testing.T) { watchEBPFHostDrops(t, mode) })
	}
}

func watchEBPFHostDrops(t *testing.T, mode string) {
	bin := buildBinary(t)
	nsA, nsB := vethPair(t) // the auditing host 10.201.0.1, its peer 10.201.0.2
	runCmd(t, `table inet msnaudit {
	chain output {
		type filter hook output priority 0; policy accept;
		tcp dport 1863 drop
	}
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 1503 drop
	}
}
`, "ip", "netns", "exec", nsA, "nft", "-f", "-")
	report := filepath.Join(t.TempDir(), "r.json")
	w := startWatch(t, nsA, bin, "--engine", "ebpf", "--ebpf-attach", mode, "-i", "a0", "--interval", "100ms", "--grace", "200ms",
		"--format", "json", "-o", report, "--buffer", "3")
	how := map[string]string{attachTCX: "TCX", attachTC: "tc clsact"}[mode]
	if !strings.Contains(w.stderr.String(), "this host's own drops named from its BTF; 4 MiB ring buffer)") ||
		!strings.Contains(w.stderr.String(), "(eBPF "+how+" ingress and egress:") {
		t.Fatalf("watch does not say it attached with %s, reports its host's drops and has a 4 MiB ring buffer (--buffer 3):\n%s", how, w.stderr)
	}
	if mode == attachTC && !strings.Contains(tcShow(t, nsA, "a0"), "msnaudit") {
		t.Fatalf("no msnaudit filter on a0: %s", tcShow(t, nsA, "a0"))
	}

	// Both dials time out (5s); the watch stops once it has printed both
	// failures.
	var dials []*exec.Cmd
	for _, d := range []struct{ ns, target string }{{nsA, "10.201.0.2:1863"}, {nsB, "10.201.0.1:1503"}} {
		cmd := helperCmd(d.ns, "dial", "MSNAUDIT_E2E_TARGET="+d.target)
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		dials = append(dials, cmd)
	}
	w.stdout.wait(t, "watch", `"server":"10.201.0.2:1863"`)
	w.stdout.wait(t, "watch", `"server":"10.201.0.1:1503"`)
	if code := w.stop(t, true); code != exitBlocked {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
	}
	r := readReport(t, report)
	for _, c := range []struct{ client, server, feature string }{
		{"10.201.0.1:", "10.201.0.2:1863", "Sign in to the Messenger service"}, // this host's own connection
		{"10.201.0.2:", "10.201.0.1:1503", "Whiteboard and application sharing"},
	} {
		var found bool
		for _, f := range r.Flows {
			if f.Transport != "tcp" || f.Server != c.server {
				continue
			}
			found = true
			if !strings.HasPrefix(f.Client, c.client) || f.Outcome != classify.KernelDrop ||
				!strings.Contains(f.Detail, "dropped by this host's kernel: NETFILTER_DROP (netfilter rules)") {
				t.Errorf("flow %s -> %s: %v %q; want kernel_drop by NETFILTER_DROP from %s", f.Client, f.Server, f.Outcome, f.Detail, c.client)
			}
			if len(f.Features) != 1 || f.Features[0] != c.feature {
				t.Errorf("flow to %s: features %v, want %s", c.server, f.Features, c.feature)
			}
		}
		if !found {
			t.Errorf("no tcp flow to %s in the report: %+v", c.server, r.Flows)
		}
	}
	if r.Capture.Engine != engineEBPF || r.Capture.EventsLost != 0 || r.Capture.KernelDropsUnavailable != "" {
		t.Errorf("capture %+v", r.Capture)
	}
	// The table (what people read) names it too.
	var table bytes.Buffer
	if err := render(&table, r, "table", false); err != nil {
		t.Fatal(err)
	}
	t.Logf("watch stderr:\n%sreport:\n%s", w.stderr, &table)
	if n := strings.Count(table.String(), "dropped by this host's"); n < 2 {
		t.Errorf("the table names %d drops by this host, want 2:\n%s", n, &table)
	}
	for _, d := range dials {
		d.Process.Kill()
	}
	if out := tcShow(t, nsA, "a0"); strings.Contains(out, "clsact") || strings.Contains(out, "filter") {
		t.Errorf("the watch left tc state on a0:\n%s", out)
	}
}

// tcShow lists an interface's qdiscs and its ingress and egress filters.
func tcShow(t *testing.T, ns, iface string) string {
	t.Helper()
	var out []byte
	for _, args := range [][]string{{"qdisc", "show", "dev", iface}, {"filter", "show", "dev", iface, "ingress"}, {"filter", "show", "dev", iface, "egress"}} {
		b, err := exec.Command("ip", append([]string{"netns", "exec", ns, "tc"}, args...)...).CombinedOutput()
		if err != nil && !bytes.Contains(b, []byte("Invalid argument")) { // no clsact qdisc: no hook to list
			t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		out = append(out, b...)
	}
	return string(out)
}

// Without the capabilities eBPF needs (root, minus CAP_BPF, CAP_PERFMON,
// CAP_SYS_ADMIN and CAP_NET_ADMIN, but with CAP_NET_RAW): --engine auto
// says what is missing in one line and watches with AF_PACKET; --engine
// ebpf fails with that message and exit status 2.
func TestWatchEngineAutoFallback(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	bin := buildBinary(t)
	nsA, _ := vethPair(t)
	const drop = "-bpf,-perfmon,-sys_admin,-net_admin"
	noBPF := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", nsA, "setpriv", "--inh-caps=" + drop, "--bounding-set=" + drop,
			bin, "watch", "-i", "a0"}, args...)...)
	}
	const missing = "msnaudit: ebpf engine unavailable: needs permission to load eBPF programs (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root): "

	out, err := noBPF("--engine", "auto", "--duration", "300ms", "--format", "json", "-o", filepath.Join(t.TempDir(), "r.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("--engine auto without eBPF: %v\n%s", err, out)
	}
	t.Logf("--engine auto without eBPF:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], missing) || !strings.HasSuffix(lines[0], "; falling back to AF_PACKET") ||
		!strings.HasPrefix(lines[1], "msnaudit: watching a0 (Messenger ports") {
		t.Errorf("--engine auto without eBPF: output\n%s", out)
	}

	out, err = noBPF("--engine", "ebpf").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("--engine ebpf without eBPF: %v, want exit status %d; output:\n%s", err, exitUsage, out)
	}
	if !strings.HasPrefix(string(out), missing) || strings.Count(string(out), "\n") != 1 {
		t.Errorf("--engine ebpf without eBPF: output %q, want one line starting %q", out, missing)
	}
}

// -i any attaches to every interface that is up but loopback; loopback
// itself is refused (tc sees its packets twice), and --engine auto falls
// back to AF_PACKET for it; -w is refused (the kernel sends only some
// packets, cut short), and makes --engine auto AF_PACKET.
func TestWatchEBPFInterfaces(t *testing.T) {
	requireEBPF(t)
	bin := buildBinary(t)
	nsA, nsB := vethPair(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "any.json")
	w := startWatch(t, nsB, bin, "--engine", "ebpf", "-i", "any", "--format", "json", "-o", report)
	if !strings.Contains(w.stderr.String(), "; on b0)\n") {
		t.Errorf("-i any: stderr\n%s", w.stderr)
	}
	r := anyScenario(t, w, nsA, report)
	// 3 + 3 datagrams, 3 ICMP errors, SYN and RST, counted by the kernel
	// (the ICMP errors read as events).
	if r.Capture.Packets == 0 || r.Capture.Engine != engineEBPF {
		t.Errorf("%s: capture %+v", report, r.Capture)
	}
	for _, c := range []struct {
		engine, iface, w string
		code             int
		want             string
	}{
		{"ebpf", "lo", "", exitUsage, "msnaudit: interface lo: the ebpf engine does not watch loopback (tc sees each of its packets twice, leaving and coming back); --engine afpacket can\n"},
		{"auto", "lo", "", exitOK, "msnaudit: interface lo: the ebpf engine does not watch loopback (tc sees each of its packets twice, leaving and coming back); falling back to AF_PACKET\n" +
			"msnaudit: watching lo (Messenger ports"},
		{"ebpf", "a0", "-w", exitUsage, "msnaudit: -w needs --engine afpacket (or auto): the ebpf engine reads only some packets, cut short (see msnaudit -h)\n"},
		{"auto", "a0", "-w", exitOK, "msnaudit: watching a0 (Messenger ports"},
	} {
		args := []string{"netns", "exec", nsA, bin, "watch", "--engine", c.engine, "-i", c.iface, "--duration", "200ms", "-o", filepath.Join(dir, "r.txt")}
		if c.w != "" {
			args = append(args, "-w", filepath.Join(dir, "w.pcapng"))
		}
		out, err := exec.Command("ip", args...).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.HasPrefix(string(out), c.want) {
			t.Errorf("--engine %s -i %s %s: exit status %d, output\n%s\nwant %d and\n%s", c.engine, c.iface, c.w, code, out, c.code, c.want)
		}
	}
}

// An interface that goes down ends the watch with an error naming it, and
// the report of what was seen, as with AF_PACKET.
func TestWatchEBPFInterfaceDown(t *testing.T) {
	requireEBPF(t)
	watchInterfaceDown(t, "ebpf")
}

// Unprivileged: --engine is checked with the other flags, and an
// *bpf.UnavailableError is cut to what is missing and the kernel's answer.
func TestWatchEngineFlag(t *testing.T) {
	code, _, errOut := runCLI(t, "", "watch", "-i", "lo", "--engine", "xdp")
	if code != exitUsage || !strings.Contains(errOut, `--engine "xdp" is not auto, afpacket or ebpf`) {
		t.Errorf("--engine xdp: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "watch", "-i", "lo", "--engine", "ebpf", "--buffer", "4096")
	if code != exitUsage || !strings.Contains(errOut, "--buffer 4096: the ebpf engine's ring buffer is at most 2048 MiB") {
		t.Errorf("--engine ebpf --buffer 4096: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "watch", "-i", "lo", "--ebpf-attach", "xdp")
	if code != exitUsage || !strings.Contains(errOut, `--ebpf-attach "xdp" is not auto, tcx or tc`) {
		t.Errorf("--ebpf-attach xdp: exit %d, stderr %q", code, errOut)
	}
	err := unavailable(&bpf.UnavailableError{Missing: "TCX (Linux 6.6 or newer)",
		Err: fmt.Errorf("attach tcx to eth0: %w", fmt.Errorf("link: %w", syscall.EINVAL))})
	if want := "ebpf engine unavailable: needs TCX (Linux 6.6 or newer): invalid argument"; err.Error() != want || !errors.Is(err, bpf.ErrUnavailable) {
		t.Errorf("unavailable: %q, want %q wrapping ErrUnavailable", err, want)
	}
	if other := errors.New("other"); unavailable(other) != other {
		t.Error("unavailable changed an error that is not an UnavailableError")
	}
}

// A watch attached through tc clsact that is killed (SIGKILL: no Close)
// leaves no filter behind: its helper removes them once the watch is gone.
func TestWatchEBPFTCKilled(t *testing.T) {
	requireEBPF(t)
	bin := buildBinary(t)
	nsA, _ := vethPair(t)
	w := startWatch(t, nsA, bin, "--engine", "ebpf", "--ebpf-attach", "tc", "-i", "a0", "-o", filepath.Join(t.TempDir(), "r.txt"))
	if !strings.Contains(tcShow(t, nsA, "a0"), "msnaudit") {
		t.Fatalf("no msnaudit filter on a0: %s", tcShow(t, nsA, "a0"))
	}
	helper := childOf(t, w.cmd.Process.Pid)
	pidfd, err := unix.PidfdOpen(helper, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// The helper's pidfd is readable once it has exited. (The Go runtime's
	// own signals interrupt poll: EINTR is tried again.)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(10 * time.Second)
	n, err := 0, unix.EINTR
	for err == unix.EINTR && time.Now().Before(deadline) {
		n, err = unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
	}
	if err != nil || n != 1 {
		t.Fatalf("the tc cleanup helper (pid %d) did not exit within 10s after the watch was killed: %d, %v", helper, n, err)
	}
	if out := tcShow(t, nsA, "a0"); strings.Contains(out, "clsact") || strings.Contains(out, "filter") {
		t.Errorf("the killed watch left tc state on a0:\n%s", out)
	}
}

// childOf returns the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, kid)
		}
	}
	if len(kids) != 1 {
		t.Fatalf("process %d has children %v, want one (the tc cleanup helper)", pid, kids)
	}
	return kids[0]
}
