//go:build linux

package main

// The end-to-end test of `msnaudit watch`: three network namespaces (a client,
// a gateway that routes and filters with nftables, a server with real
// listeners), real connections from the client, and the watch on the
// gateway's client-side interface. Root only; skipped with the reason
// elsewhere, failed under CI=true.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/msnaudit/msnaudit/classify"
)

const e2eRoleEnv = "MSNAUDIT_E2E_ROLE"

// The test network: client 10.200.1.2 -- 10.200.1.1 gw 10.200.2.1 -- srv.
// The server has one address per Messenger name, so that each flow's DNS
// name is its own.
const (
	e2eClientIP = "10.200.1.2"
	e2eDNSIP    = "10.200.2.53" // the server's DNS responder, on an address with no name
	e2eDNS      = e2eDNSIP + ":53"
	e2ePeerIP   = "10.200.2.9" // an address with no name: whiteboard and remote assistance peers
)

var e2eNames = map[string]string{
	"messenger.hotmail.com":         "10.200.2.2",
	"login.live.com":                "10.200.2.3",
	"gateway.messenger.hotmail.com": "10.200.2.4",
	"echo.edge.messenger.live.com":  "10.200.2.5",
}

const e2eNXDomain = "config.messenger.msn.com"

// The gateway's filter: what the test expects the watch to see.
const e2eRuleset = `table inet msnaudit {
	chain forward {
		type filter hook forward priority 0; policy accept;
		tcp dport 1863 drop
		tcp dport 1503 reject with tcp reset
		tcp dport 3389 reject with icmpx type admin-prohibited
		udp dport 7001 drop
	}
}
`

// requireE2E skips (or, under CI=true, fails) when the test cannot run.
func requireE2E(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "needs root (network namespaces, nftables, AF_PACKET)"
	case testing.Short():
		why = "-short"
	default:
		for _, tool := range []string{"ip", "nft", "go"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = "needs " + tool + " in PATH"
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but the end-to-end test cannot run: %s", why)
	}
	t.Skip(why)
}

func TestWatchEndToEnd(t *testing.T) { watchEndToEnd(t, engineAFPacket) }

// gateway makes three namespaces: a client (eth0, 10.200.1.2) behind a
// gateway that forwards (gw0, 10.200.1.1; gw1, 10.200.2.1) to a server
// (eth0) that has the e2e test's addresses.
func gateway(t *testing.T) (client, gw, srv string) {
	ns := newNamespaces(t, "client", "gw", "srv")
	nsC, nsG, nsS := ns[0], ns[1], ns[2]
	runCmd(t, "", "ip", "-n", nsG, "link", "add", "gw0", "type", "veth", "peer", "name", "eth0", "netns", nsC)
	runCmd(t, "", "ip", "-n", nsG, "link", "add", "gw1", "type", "veth", "peer", "name", "eth0", "netns", nsS)
	runCmd(t, "", "ip", "-n", nsC, "addr", "add", e2eClientIP+"/24", "dev", "eth0")
	runCmd(t, "", "ip", "-n", nsG, "addr", "add", "10.200.1.1/24", "dev", "gw0")
	runCmd(t, "", "ip", "-n", nsG, "addr", "add", "10.200.2.1/24", "dev", "gw1")
	for _, ip := range append([]string{e2eDNSIP, e2ePeerIP}, mapValues(e2eNames)...) {
		runCmd(t, "", "ip", "-n", nsS, "addr", "add", ip+"/24", "dev", "eth0")
	}
	runCmd(t, "", "ip", "-n", nsC, "link", "set", "eth0", "up")
	runCmd(t, "", "ip", "-n", nsS, "link", "set", "eth0", "up")
	runCmd(t, "", "ip", "-n", nsG, "link", "set", "gw0", "up")
	runCmd(t, "", "ip", "-n", nsG, "link", "set", "gw1", "up")
	runCmd(t, "", "ip", "-n", nsC, "route", "add", "default", "via", "10.200.1.1")
	runCmd(t, "", "ip", "-n", nsS, "route", "add", "default", "via", "10.200.2.1")
	runCmd(t, "", "ip", "netns", "exec", nsG, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	return nsC, nsG, nsS
}

// TestWatchGatewayBothSides: a gateway watched on both its interfaces sees
// each forwarded packet twice, coming in and going out; each engine counts
// it once in its flow, and so does an audit of the AF_PACKET watch's -w
// file (which holds both copies, one per interface).
func TestWatchGatewayBothSides(t *testing.T) {
	requireE2E(t)
	bin := buildBinary(t)
	for _, engine := range []string{engineAFPacket, engineEBPF} {
		t.Run(engine, func(t *testing.T) {
			if engine == engineEBPF {
				requireEBPF(t)
			}
			nsC, nsG, _ := gateway(t)
			dir := t.TempDir()
			report, pcap := filepath.Join(dir, "report.json"), filepath.Join(dir, "gw.pcapng")
			args := []string{"--engine", engine, "-i", "gw0", "-i", "gw1", "--all-flows", "--format", "json", "-o", report}
			if engine == engineAFPacket {
				args = append(args, "-w", pcap)
			}
			w := startWatch(t, nsG, bin, args...)
			const n = 30
			target := e2ePeerIP + ":7001" // a Messenger port (the socket filter passes it); no listener: each datagram is refused
			udpTo(t, nsC, target, n, 64)
			w.stop(t, true)
			check := func(what string, r *classify.Report) {
				t.Helper()
				for _, f := range r.Flows {
					if f.Server == target {
						if f.Packets != n {
							t.Errorf("%s: the flow to %s counted %d packets, %d were sent (forwarded copies %d): %+v", what, target, f.Packets, n, r.Capture.ForwardedCopies, r.Flows)
						}
						return
					}
				}
				t.Errorf("%s: no flow to %s in %+v", what, target, r.Flows)
			}
			r := readReport(t, report)
			check("watch", r)
			if engine == engineEBPF {
				return // the kernel counted each packet once: it never sent copies
			}
			if r.Capture.ForwardedCopies < n {
				t.Errorf("watch: %d forwarded copies, want at least %d", r.Capture.ForwardedCopies, n)
			}
			out, _ := exec.Command(bin, "audit", "--format", "json", "--all-flows", pcap).Output()
			var ar classify.Report
			if err := json.Unmarshal(out, &ar); err != nil {
				t.Fatalf("audit %s: %v\n%s", pcap, err, out)
			}
			check("audit of -w", &ar)
		})
	}
}

// watchEndToEnd runs the scenario with one watch --engine (e2e_ebpf_test.go
// runs it with ebpf).
func watchEndToEnd(t *testing.T, engine string) {
	requireE2E(t)
	began := time.Now()
	dir := t.TempDir()
	bin := buildBinary(t)
	nsC, nsG, nsS := gateway(t)
	runCmd(t, e2eRuleset, "ip", "netns", "exec", nsG, "nft", "-f", "-")

	// The server's listeners, in the server namespace: ready when it says so.
	srv := helperCmd(nsS, "server")
	srvIn, err := srv.StdinPipe() // the server exits when the test closes it
	if err != nil {
		t.Fatal(err)
	}
	srvOut, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvIn.Close(); srv.Process.Kill(); srv.Wait() })
	readLines(srvOut).wait(t, "server", "ready\n")

	// The watch on the gateway's client-side interface.
	report, pcap := filepath.Join(dir, "report.json"), filepath.Join(dir, "gw.pcapng")
	ebpf := engine == engineEBPF
	args := []string{"--engine", engine, "-i", "gw0", "--workers", "2", "--interval", "300ms",
		"--grace", "500ms", "--all-flows", "--format", "json", "-o", report, "--metrics", "127.0.0.1:0"}
	if !ebpf { // the eBPF engine refuses -w: it reads only some packets, cut short
		args = append(args, "-w", pcap)
	}
	w := startWatch(t, nsG, bin, args...)

	// The client's attempts; it returns once each has succeeded or failed
	// (its own timeouts), so every dropped SYN and probe is older than the
	// grace time when the watch stops.
	out, err := helperCmd(nsC, "client").Output()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	checkClient(t, out)

	// Metrics: the snapshot that printed the 1503 event fed them too.
	w.stdout.wait(t, "watch", `"server":"`+e2ePeerIP+`:1503"`)
	checkMetrics(t, nsG, w.stderr.String(), ebpf)

	if code := w.stop(t, true); code != exitBlocked {
		t.Fatalf("watch: exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
	}
	t.Logf("watch stderr:\n%s", w.stderr)

	r := readReport(t, report)
	if testing.Verbose() {
		b, _ := os.ReadFile(report)
		t.Logf("final report:\n%s", b)
	}
	checkReport(t, "watch", r, ebpf)
	checkEvents(t, []byte(w.stdout.String()), ebpf)
	if ebpf {
		t.Logf("end to end in %s (%d packets on gw0)", time.Since(began).Round(time.Millisecond), r.Capture.Packets)
		return
	}

	// The pcapng written with -w reads back with audit, to the same verdicts.
	aout, err := exec.Command(bin, "audit", "--format", "json", "--grace", "500ms", "--all-flows", pcap).Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitBlocked {
		t.Fatalf("audit %s: %v, want exit status %d", pcap, err, exitBlocked)
	}
	var ar classify.Report
	if err := json.Unmarshal(aout, &ar); err != nil {
		t.Fatalf("audit %s: %v", pcap, err)
	}
	checkReport(t, "audit of -w", &ar, false)
	if ar.Capture.Packets != r.Capture.Packets {
		t.Errorf("audit of -w read %d packets, the watch %d", ar.Capture.Packets, r.Capture.Packets)
	}
	t.Logf("end to end in %s (%d packets on gw0)", time.Since(began).Round(time.Millisecond), r.Capture.Packets)
}

// buildBinary builds msnaudit into the test's temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	began := time.Now()
	bin := filepath.Join(t.TempDir(), "msnaudit")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built in %s", time.Since(began).Round(time.Millisecond))
	return bin
}

func runCmd(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var nsSeq atomic.Int32

// newNamespaces creates network namespaces named msnaudit-PID-N-ROLE with
// loopback up, deleted (with their interfaces) when the test ends.
func newNamespaces(t *testing.T, roles ...string) []string {
	t.Helper()
	removeStaleNamespaces()
	prefix := fmt.Sprintf("msnaudit-%d-%d-", os.Getpid(), nsSeq.Add(1))
	var names []string
	t.Cleanup(func() {
		for _, ns := range names {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for _, role := range roles {
		ns := prefix + role
		runCmd(t, "", "ip", "netns", "add", ns)
		names = append(names, ns)
		runCmd(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
		// The test network is IPv4: no IPv6 autoconfiguration noise (MLD
		// reports behind a hop-by-hop header pass the socket filter).
		runCmd(t, "", "ip", "netns", "exec", ns, "sh", "-c",
			"for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done 2>/dev/null || true")
	}
	return names
}

// staleNS matches the namespaces newNamespaces makes, with the test's pid.
var staleNS = regexp.MustCompile(`^msnaudit-([0-9]+)-[0-9]+-[a-z]+$`)

// removeStaleNamespaces deletes namespaces left by a test process that was
// killed before its cleanup ran (its pid is gone).
func removeStaleNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		m := staleNS.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); errors.Is(err, os.ErrNotExist) {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// helperCmd runs this test binary as a helper (server, client, udp) in a
// namespace.
func helperCmd(ns, role string, env ...string) *exec.Cmd {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestE2EHelperProcess$")
	cmd.Env = append(append(os.Environ(), e2eRoleEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// watchProc is a running msnaudit watch.
type watchProc struct {
	cmd            *exec.Cmd
	stdout, stderr *lineLog
	done           chan error
}

// startWatch starts msnaudit watch in a namespace and returns once it says
// that the capture is live.
func startWatch(t *testing.T, ns, bin string, args ...string) *watchProc {
	t.Helper()
	w := &watchProc{cmd: exec.Command("ip", append([]string{"netns", "exec", ns, bin, "watch"}, args...)...), done: make(chan error, 1)}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.stdout, w.stderr = readLines(stdout), readLines(stderr)
	go func() {
		<-w.stdout.ended()
		<-w.stderr.ended()
		w.done <- w.cmd.Wait() // after the pipes are read to their end
	}()
	t.Cleanup(func() { w.cmd.Process.Kill(); err := <-w.done; w.done <- err })
	w.stderr.wait(t, "watch", "msnaudit: watching ")
	return w
}

// stop sends SIGINT (when interrupt is set), waits for the watch to end and
// returns its exit status.
func (w *watchProc) stop(t *testing.T, interrupt bool) int {
	t.Helper()
	if interrupt {
		if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	select {
	case err = <-w.done:
		w.done <- err // for the cleanup
	case <-time.After(30 * time.Second): // a failsafe, not a synchronisation
		t.Fatalf("watch did not stop within 30s; stderr:\n%s", w.stderr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("watch: %v", err)
	return -1
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// lineLog collects the lines of a child's output as they come.
type lineLog struct {
	mu      sync.Mutex
	text    strings.Builder
	changed chan struct{} // closed (and replaced) at each line and at the end
	eof     bool
}

func readLines(r io.Reader) *lineLog {
	l := &lineLog{changed: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.text.WriteString(sc.Text() + "\n")
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.eof = true
		close(l.changed)
		l.mu.Unlock()
	}()
	return l
}

// ended returns a channel closed once the output has ended.
func (l *lineLog) ended() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for {
			l.mu.Lock()
			ended, changed := l.eof, l.changed
			l.mu.Unlock()
			if ended {
				close(ch)
				return
			}
			<-changed
		}
	}()
	return ch
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// wait returns once the output holds s.
func (l *lineLog) wait(t *testing.T, who, s string) {
	t.Helper()
	timeout := time.After(30 * time.Second) // a failsafe, not a synchronisation
	for {
		l.mu.Lock()
		found, ended, changed := strings.Contains(l.text.String(), s), l.eof, l.changed
		l.mu.Unlock()
		switch {
		case found:
			return
		case ended:
			t.Fatalf("%s ended without printing %q; output:\n%s", who, s, l)
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%s: no %q within 30s; output:\n%s", who, s, l)
		}
	}
}

// clientResult is one attempt of the client helper.
type clientResult struct {
	Op  string `json:"op"`
	Err string `json:"err"`
}

// checkClient asserts that the client itself saw what the gateway does.
func checkClient(t *testing.T, out []byte) {
	t.Helper()
	want := map[string]string{
		"msnp":       "dial tcp " + e2eNames["messenger.hotmail.com"] + ":1863: i/o timeout",
		"login":      "",
		"gateway":    "",
		"whiteboard": "dial tcp " + e2ePeerIP + ":1503: connect: connection refused",
		"remote":     "dial tcp " + e2ePeerIP + ":3389: connect: no route to host",
		"echo":       "read udp " + e2eClientIP,
		"config":     "lookup " + e2eNXDomain + ". on",
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		var cr clientResult
		if json.Unmarshal([]byte(line), &cr) == nil && cr.Op != "" {
			got[cr.Op] = cr.Err
		}
	}
	for op, w := range want {
		g, ok := got[op]
		switch {
		case !ok:
			t.Errorf("client: no result for %s", op)
		case w == "" && g != "":
			t.Errorf("client %s: %s, want success", op, g)
		case !strings.Contains(g, w):
			t.Errorf("client %s: %q, want an error with %q", op, g, w)
		case op == "config" && !strings.Contains(g, "no such host"), op == "echo" && !strings.Contains(g, "i/o timeout"):
			t.Errorf("client %s: %q", op, g)
		}
	}
}

func readReport(t *testing.T, path string) *classify.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r classify.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}

// checkReport asserts each feature's verdict and each flow's outcome; with
// kernelDrops (the eBPF engine), the flows the gateway's own nftables rules
// failed are kernel_drop.
func checkReport(t *testing.T, who string, r *classify.Report, kernelDrops bool) {
	t.Helper()
	if r.Schema != classify.Schema || r.Capture.Packets == 0 || r.Capture.KernelDrops != 0 {
		t.Errorf("%s: schema %q, %d packets, %d kernel drops", who, r.Schema, r.Capture.Packets, r.Capture.KernelDrops)
	}
	verdicts := map[string]classify.Verdict{
		"Sign in to the Messenger service":   classify.Partial, // 1863 dropped, NXDOMAIN; HTTPS and the gateway ok
		"Network detection":                  classify.Blocked, // UDP 7001 dropped
		"Whiteboard and application sharing": classify.Blocked, // TCP 1503 reset
	}
	for _, f := range r.Features {
		want, ok := verdicts[f.Feature]
		if !ok {
			want = classify.NotSeen
		}
		if f.Verdict != want {
			t.Errorf("%s: feature %q: verdict %v, want %v (%+v)", who, f.Feature, f.Verdict, want, f)
		}
	}
	type flowWant struct {
		outcome  classify.Outcome
		host     string
		evidence string
		detail   string
	}
	flows := map[string]flowWant{
		"tcp " + e2eNames["messenger.hotmail.com"] + ":1863":        {classify.Dropped, "messenger.hotmail.com", "host", "SYN"},
		"tcp " + e2eNames["login.live.com"] + ":443":                {classify.OK, "login.live.com", "host", ""},
		"tcp " + e2eNames["gateway.messenger.hotmail.com"] + ":80":  {classify.OK, "gateway.messenger.hotmail.com", "host", ""},
		"udp " + e2eNames["echo.edge.messenger.live.com"] + ":7001": {classify.Dropped, "echo.edge.messenger.live.com", "host", ""},
		"tcp " + e2ePeerIP + ":1503":                                {classify.Refused, "", "port", "RST"},
		// A shared port without a Messenger name: listed with --all-flows only.
		"tcp " + e2ePeerIP + ":3389": {classify.ICMPUnreachable, "", "", "code 13"},
	}
	for key, w := range flows {
		if kernelDrops && w.outcome != classify.OK {
			w.outcome, w.detail = classify.KernelDrop, "dropped by this host's kernel: NETFILTER_DROP (netfilter rules)"
			flows[key] = w
		}
	}
	seen := map[string]int{}
	for _, f := range r.Flows {
		key := f.Transport + " " + f.Server
		w, ok := flows[key]
		if !ok {
			if f.Evidence != "" && f.Server != e2eDNS {
				t.Errorf("%s: unexpected flow %+v", who, f)
			}
			continue
		}
		seen[key]++
		if !strings.HasPrefix(f.Client, e2eClientIP+":") || f.Outcome != w.outcome || f.Host != w.host || f.Evidence != w.evidence ||
			!strings.Contains(f.Detail, w.detail) {
			t.Errorf("%s: flow %s: outcome %v host %q evidence %q detail %q; want %v %q %q %q", who, key, f.Outcome, f.Host,
				f.Evidence, f.Detail, w.outcome, w.host, w.evidence, w.detail)
		}
	}
	for key := range flows {
		if seen[key] != 1 {
			t.Errorf("%s: flow %s listed %d times, want once", who, key, seen[key])
		}
	}
	lookups := map[string]classify.Outcome{e2eNXDomain: classify.DNSFailed}
	for name := range e2eNames {
		lookups[name] = classify.OK
	}
	for _, lk := range r.Lookups {
		want, ok := lookups[lk.Name]
		if !ok {
			t.Errorf("%s: unexpected lookup %+v", who, lk)
			continue
		}
		delete(lookups, lk.Name)
		if lk.Outcome != want || want == classify.DNSFailed && lk.RCode != "NXDOMAIN" {
			t.Errorf("%s: lookup %s: %v %s, want %v", who, lk.Name, lk.Outcome, lk.RCode, want)
		}
	}
	for name := range lookups {
		t.Errorf("%s: no lookup of %s in the report", who, name)
	}
}

// checkMetrics scrapes the watch's /metrics from inside its namespace.
func checkMetrics(t *testing.T, ns, stderr string, kernelDrops bool) {
	t.Helper()
	url := metricsURL(t, stderr)
	cmd := helperCmd(ns, "get", "MSNAUDIT_E2E_URL="+url)
	body, err := cmd.Output()
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	for _, want := range []string{
		`msnaudit_feature_attempts_total{feature="Whiteboard and application sharing",outcome="` + e2eRefused(kernelDrops) + `"} 1`,
		`msnaudit_feature_verdict{feature="Whiteboard and application sharing",verdict="blocked"} 1`,
		`msnaudit_lookups{outcome="dns_failed"} 1`,
		`msnaudit_capture_kernel_drops_total{interface="gw0"} 0`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("scrape %s: no %q", url, want)
		}
	}
	if !strings.Contains(string(body), `msnaudit_capture_kernel_packets_total{interface="gw0"} `) ||
		strings.Contains(string(body), `msnaudit_capture_kernel_packets_total{interface="gw0"} 0`+"\n") {
		t.Errorf("scrape %s: no kernel packets counted for gw0", url)
	}
}

// checkEvents asserts the NDJSON events printed while watching: each an
// object with "@timestamp"; the quick failures among them.
func checkEvents(t *testing.T, b []byte, kernelDrops bool) {
	t.Helper()
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var ev struct {
			Stamp   string           `json:"@timestamp"`
			Event   string           `json:"event"`
			Outcome classify.Outcome `json:"outcome"`
			Server  string           `json:"server"`
			Name    string           `json:"name"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("event %q: %v", line, err)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Stamp); err != nil || !strings.HasSuffix(ev.Stamp, "Z") {
			t.Errorf("event %q: @timestamp %q is not RFC 3339 UTC", line, ev.Stamp)
		}
		got[ev.Event+" "+ev.Outcome.String()+" "+ev.Server+ev.Name] = true
	}
	t.Logf("events while watching:\n%s", b)
	for _, want := range []string{
		"lookup dns_failed " + e2eNXDomain,
		"flow " + e2eRefused(kernelDrops) + " " + e2ePeerIP + ":1503",
	} {
		if !got[want] {
			t.Errorf("no event %q in:\n%s", want, b)
		}
	}
}

// TestE2EHelperProcess is the server or the client of TestWatchEndToEnd,
// run inside a namespace by the test binary itself.
func TestE2EHelperProcess(t *testing.T) {
	role := os.Getenv(e2eRoleEnv)
	if role == "" {
		t.Skip("the helper process of TestWatchEndToEnd")
	}
	var err error
	switch role {
	case "server":
		err = e2eServer()
	case "client":
		err = e2eClient()
	case "udp":
		err = e2eUDP(os.Getenv("MSNAUDIT_E2E_TARGET"), os.Getenv("MSNAUDIT_E2E_COUNT"), os.Getenv("MSNAUDIT_E2E_SIZE"))
	case "get":
		var resp *http.Response
		if resp, err = http.Get(os.Getenv("MSNAUDIT_E2E_URL")); err == nil {
			_, err = io.Copy(os.Stdout, resp.Body)
			resp.Body.Close()
		}
	case "vlan":
		err = e2eVLAN(os.Getenv("MSNAUDIT_E2E_IFACE"))
	case "dial":
		c, derr := net.DialTimeout("tcp", os.Getenv("MSNAUDIT_E2E_TARGET"), 5*time.Second)
		if derr == nil {
			c.Close()
		}
		fmt.Println(derr) // the attempt is the point, not its result
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// e2eServer runs the listeners until standard input closes.
func e2eServer() error {
	cert, err := selfSigned("login.live.com")
	if err != nil {
		return err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	tlsLn, err := tls.Listen("tcp", ":443", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	go http.Serve(tlsLn, ok)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /gateway/gateway.dll", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-msn-messenger")
		io.WriteString(w, "VER 1 MSNP18\r\n")
	})
	httpLn, err := net.Listen("tcp", ":80")
	if err != nil {
		return err
	}
	go http.Serve(httpLn, mux)

	msnp, err := net.Listen("tcp", ":1863")
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := msnp.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil && strings.HasPrefix(line, "VER ") {
					io.WriteString(c, "VER 1 MSNP18\r\n")
				}
			}()
		}
	}()

	echo, err := net.ListenPacket("udp", net.JoinHostPort(e2eNames["echo.edge.messenger.live.com"], "7001"))
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()

	dns, err := net.ListenPacket("udp", e2eDNS) // answers from the address asked
	if err != nil {
		return err
	}
	go serveDNS(dns)

	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// serveDNS answers A queries for e2eNames and NXDOMAIN for everything else.
func serveDNS(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
		ip, known := e2eNames[name]
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
		if !known {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if known && q.Type == dnsmessage.TypeA {
			var a [4]byte
			copy(a[:], net.ParseIP(ip).To4())
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a})
		}
		if msg, err := b.Finish(); err == nil {
			pc.WriteTo(msg, from)
		}
	}
}

func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// e2eClient makes every attempt at once and prints one JSON line for each.
func e2eClient() error {
	ctx := context.Background()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", e2eDNS)
	}}
	resolve := func(name string) (string, error) {
		ips, err := res.LookupIP(ctx, "ip4", name+".") // absolute: no search domains
		if err != nil {
			return "", err
		}
		return ips[0].String(), nil
	}
	ops := map[string]func() error{
		"msnp": func() error {
			ip, err := resolve("messenger.hotmail.com")
			if err != nil {
				return err
			}
			// Long enough for the SYN retransmission after 1s, and the
			// last SYN 0.9s old when the client gives up: older than the
			// watch's 500ms grace.
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "1863"), 1900*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		},
		"login": func() error {
			ip, err := resolve("login.live.com")
			if err != nil {
				return err
			}
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", net.JoinHostPort(ip, "443"),
				&tls.Config{ServerName: "login.live.com", InsecureSkipVerify: true})
			if err != nil {
				return err
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: login.live.com\r\nConnection: close\r\n\r\n")
			_, err = io.ReadAll(c)
			return err
		},
		"gateway": func() error {
			ip, err := resolve("gateway.messenger.hotmail.com")
			if err != nil {
				return err
			}
			tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort(ip, "80"))
			}}
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			resp, err := hc.Post("http://gateway.messenger.hotmail.com/gateway/gateway.dll?Action=open&Server=NS&IP=messenger.hotmail.com",
				"application/x-msn-messenger", strings.NewReader("VER 1 MSNP18 CVR0\r\n"))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-msn-messenger" {
				return fmt.Errorf("gateway answered %s, %s", resp.Status, resp.Header.Get("Content-Type"))
			}
			return nil
		},
		"whiteboard": func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(e2ePeerIP, "1503"), 10*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		},
		"remote": func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(e2ePeerIP, "3389"), 10*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		},
		"echo": func() error {
			ip, err := resolve("echo.edge.messenger.live.com")
			if err != nil {
				return err
			}
			c, err := net.Dial("udp", net.JoinHostPort(ip, "7001"))
			if err != nil {
				return err
			}
			defer c.Close()
			local := c.LocalAddr().(*net.UDPAddr)
			// The 20-byte echo probe (hosts-and-signatures §3.4): version 2,
			// service 1 (echo), client port and IP, discard port 9, test
			// port and IP, transaction id.
			probe := make([]byte, 20)
			probe[0], probe[1] = 2, 1
			binary.BigEndian.PutUint16(probe[2:], uint16(local.Port))
			copy(probe[4:8], local.IP.To4())
			binary.BigEndian.PutUint16(probe[8:], 9)
			binary.BigEndian.PutUint16(probe[10:], 7001)
			copy(probe[12:16], net.ParseIP(ip).To4())
			var lastErr error
			for try := range 2 {
				binary.BigEndian.PutUint32(probe[16:], uint32(try+1))
				if _, err := c.Write(probe); err != nil {
					return err
				}
				c.SetReadDeadline(time.Now().Add(1250 * time.Millisecond))
				buf := make([]byte, 64)
				if _, lastErr = c.Read(buf); lastErr == nil {
					return nil
				}
			}
			return lastErr
		},
		"config": func() error {
			_, err := resolve(e2eNXDomain)
			return err
		},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for op, f := range ops {
		wg.Go(func() {
			err := f()
			cr := clientResult{Op: op}
			if err != nil {
				cr.Err = err.Error()
			}
			b, _ := json.Marshal(cr)
			mu.Lock()
			fmt.Println(string(b))
			mu.Unlock()
		})
	}
	wg.Wait()
	// A last lookup once every attempt has ended: a real packet that makes
	// the capture last past the client's timeouts, for the audit of the
	// -w file too (whose end is its last packet).
	_, err := resolve("login.live.com")
	return err
}
