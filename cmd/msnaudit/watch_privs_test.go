//go:build linux

package main

// Least privilege, with the real binary: a running watch has no capability
// left on any thread, no way to regain one, and with --user the user's ids;
// it still writes its final report. audit runs with no privilege at all.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/msnaudit/msnaudit/classify"
)

// nobody returns the uid and gid of user nobody.
func nobody(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// nobodyDir makes a directory that user nobody owns (in the system's
// temporary directory: t.TempDir's parents are not open to others).
func nobodyDir(t *testing.T) string {
	t.Helper()
	uid, gid := nobody(t)
	dir, err := os.MkdirTemp("", "msnaudit-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// procStatus reads the fields of /proc/PID/task/TID/status for every
// thread of a process.
func procStatus(t *testing.T, pid int) map[string]map[string]string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads for pid %d: %v", pid, err)
	}
	out := map[string]map[string]string{}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fields := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		out[path] = fields
	}
	return out
}

// TestWatchDropsPrivileges runs the watch with --user nobody, with each
// engine: while it runs, every thread has no capability (effective,
// permitted, inheritable, ambient, bounding), no_new_privs and nobody's
// ids; it goes on judging traffic and writes its final report on SIGINT.
func TestWatchDropsPrivileges(t *testing.T) {
	requireE2E(t)
	bin := buildBinary(t)
	uid, gid := nobody(t)
	for _, engine := range []string{engineAFPacket, engineEBPF} {
		t.Run(engine, func(t *testing.T) {
			var ns, iface, peerNS, target string
			if engine == engineEBPF {
				requireEBPF(t)
				peerNS, ns = vethPair(t)
				iface, target = "b0", "10.201.0.2:1503"
			} else {
				ns = newNamespaces(t, "priv")[0]
				peerNS, iface, target = ns, "lo", "127.0.0.1:1503"
			}
			dir := nobodyDir(t)
			report, pcap := filepath.Join(dir, "r.json"), filepath.Join(dir, "w.pcapng")
			args := []string{"--engine", engine, "-i", iface, "--user", "nobody", "--interval", "200ms",
				"--format", "json", "-o", report, "--metrics", "127.0.0.1:0"}
			owners := map[string]int{report: uid}
			if engine == engineAFPacket {
				// The -w file is opened before the drop and renamed into
				// place after it.
				args = append(args, "-w", pcap)
				owners[pcap] = 0
			}
			w := startWatch(t, ns, bin, args...)
			pid := w.cmd.Process.Pid // ip netns exec execs the binary
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "msnaudit" {
				t.Fatalf("pid %d is %q, not msnaudit", pid, comm)
			}
			ids := fmt.Sprintf("%d %d %d %d", uid, uid, uid, uid)
			gids := fmt.Sprintf("%d %d %d %d", gid, gid, gid, gid)
			zero := "0000000000000000"
			threads := procStatus(t, pid)
			for path, f := range threads {
				for k, want := range map[string]string{
					"CapEff": zero, "CapPrm": zero, "CapInh": zero, "CapBnd": zero, "CapAmb": zero,
					"NoNewPrivs": "1", "Uid": ids, "Gid": gids,
				} {
					if f[k] != want {
						t.Errorf("%s: %s %q, want %q", path, k, f[k], want)
					}
				}
				if g := strings.Fields(f["Groups"]); !slicesContain(g, strconv.Itoa(gid)) || slicesContain(g, "0") {
					t.Errorf("%s: groups %q", path, f["Groups"])
				}
			}
			t.Logf("%d threads, all without privileges", len(threads))

			dialTo(t, peerNS, target) // refused: whiteboard blocked
			w.stdout.wait(t, "watch", `"server":"`+target+`"`)
			checkMetricsUp(t, ns, w.stderr.String())
			if code := w.stop(t, true); code != exitBlocked {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitBlocked, w.stderr)
			}
			r := readReport(t, report)
			if o, ok := flowOutcome(r, "tcp", target); !ok || o != classify.Refused && o != classify.KernelDrop {
				t.Errorf("flow to %s: %v (listed: %v)", target, o, ok)
			}
			for name, owner := range owners {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatalf("%v; stderr:\n%s", err, w.stderr)
				}
				if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != owner {
					t.Errorf("%s is owned by %d, want %d", name, st.Uid, owner)
				}
			}
			if strings.Contains(w.stderr.String(), "ebpf engine:") || strings.Contains(w.stderr.String(), "report covers") {
				t.Errorf("stderr:\n%s", w.stderr)
			}
		})
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkMetricsUp scrapes /metrics after the drop: the listener opened
// before it still serves.
func checkMetricsUp(t *testing.T, ns, stderr string) {
	t.Helper()
	url := metricsURL(t, stderr)
	body, err := helperCmd(ns, "get", "MSNAUDIT_E2E_URL="+url).Output()
	if err != nil || !bytes.Contains(body, []byte("\ngo_goroutines ")) {
		t.Errorf("scrape %s after the drop: %v\n%s", url, err, body)
	}
}

// A watch whose -o the user cannot write, or whose --user does not exist,
// does not start: found at once, not when the report is due.
func TestWatchUserRefusals(t *testing.T) {
	requireE2E(t)
	nobody(t)
	bin := buildBinary(t)
	ns := newNamespaces(t, "refuse")[0]
	private := t.TempDir() // root's, 0700
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "nobody", "-o", filepath.Join(private, "r.json")},
			"msnaudit: -o " + filepath.Join(private, "r.json") + ": user nobody cannot write " + private + " (permission denied): give a place it can write\n"},
		{[]string{"--user", "msnaudit-no-such-user"}, "msnaudit: --user msnaudit-no-such-user: user: unknown user msnaudit-no-such-user\n"},
	} {
		args := append([]string{"netns", "exec", ns, bin, "watch", "--engine", "afpacket", "-i", "lo", "--quiet"}, c.args...)
		var stderr bytes.Buffer
		cmd := exec.Command("ip", args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || stderr.String() != c.want {
			t.Errorf("%v: %v, stderr %q; want exit status %d and %q", c.args, err, stderr.String(), exitUsage, c.want)
		}
	}
}

// TestAuditAsNobody: audit needs no privilege: as nobody, with no
// capability and no_new_privs, it reads a capture and writes its report
// (-o: a temporary file and a rename) exactly as root does.
func TestAuditAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to become nobody")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	uid, gid := nobody(t)
	bin := buildBinary(t)
	dir := nobodyDir(t)
	b, err := os.ReadFile(td + "sample.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	capFile := filepath.Join(dir, "sample.pcapng")
	if err := os.WriteFile(capFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "r.json")
	cmd := exec.Command("setpriv", "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid), "--clear-groups",
		"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
		bin, "audit", "--format", "json", "-o", report, capFile)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitBlocked || len(out) != 0 {
		t.Fatalf("audit as nobody: %v, want exit status %d; output:\n%s", err, exitBlocked, out)
	}
	asRoot, err := exec.Command(bin, "audit", "--format", "json", capFile).Output()
	if !errors.As(err, &ee) || ee.ExitCode() != exitBlocked {
		t.Fatalf("audit as root: %v", err)
	}
	asNobody, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r classify.Report
	if err := json.Unmarshal(asNobody, &r); err != nil || r.Capture.Packets == 0 {
		t.Fatalf("report: %v, %d packets", err, r.Capture.Packets)
	}
	if !bytes.Equal(asNobody, asRoot) {
		t.Errorf("the report as nobody differs from root's")
	}
	if fi, err := os.Stat(report); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Errorf("report: %v, owner %v", err, fi.Sys())
	}
}
