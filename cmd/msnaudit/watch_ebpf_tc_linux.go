//go:build linux

package main

// The eBPF engine attached through tc clsact (a kernel without TCX, or
// --ebpf-attach tc) leaves filters that outlive the watch, unlike TCX links,
// and removing them needs CAP_NET_ADMIN, which the watch gives up once the
// capture is live. So a helper process, this binary started again before
// the drop, keeps the privilege and waits: when the watch closes the pipe
// to it (ending normally, or killed), the helper removes exactly the
// filters and the qdisc the engine added, and exits.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/msnaudit/msnaudit/bpf"
)

// tcCleanupEnv makes this binary the helper (see init).
const tcCleanupEnv = "MSNAUDIT_TC_CLEANUP"

func init() {
	if os.Getenv(tcCleanupEnv) == "1" {
		os.Exit(runTCCleanup(os.Stdin, os.Stderr))
	}
}

// runTCCleanup is the helper: it reads what to remove from r, waits for r
// to end, removes it and says on stderr what failed.
func runTCCleanup(r io.Reader, stderr io.Writer) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	var s bpf.TCFilters
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		fmt.Fprintf(stderr, "msnaudit: tc cleanup: read from the watch: %v\n", err)
		return 1
	}
	_, _ = io.Copy(io.Discard, r) // until the watch closes the pipe or dies
	if err := bpf.RemoveTC(s); err != nil {
		fmt.Fprintf(stderr, "msnaudit: tc cleanup: %v\n", err)
		return 1
	}
	return 0
}

// tcCleanup is the running helper.
type tcCleanup struct {
	cmd    *exec.Cmd
	pipe   io.WriteCloser
	stderr bytes.Buffer
}

// startTCCleanup hands s to a helper process. It is its own process group,
// so a terminal's Ctrl-C does not reach it.
func startTCCleanup(s bpf.TCFilters) (*tcCleanup, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("tc cleanup helper: %w", err)
	}
	c := &tcCleanup{cmd: exec.Command(self)}
	c.cmd.Env = append(os.Environ(), tcCleanupEnv+"=1")
	c.cmd.Stderr = &c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.pipe, err = c.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("tc cleanup helper: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("tc cleanup helper: %w", err)
	}
	if err := json.NewEncoder(c.pipe).Encode(s); err != nil {
		c.pipe.Close()
		c.cmd.Wait()
		return nil, fmt.Errorf("tc cleanup helper: %w", err)
	}
	return c, nil
}

// finish tells the helper to remove the filters and waits until it has.
func (c *tcCleanup) finish() error {
	c.pipe.Close()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && c.stderr.Len() > 0 {
		return errors.New(strings.TrimSpace(strings.TrimPrefix(c.stderr.String(), "msnaudit: ")))
	}
	if err != nil {
		return fmt.Errorf("tc cleanup: %w", err)
	}
	return nil
}
