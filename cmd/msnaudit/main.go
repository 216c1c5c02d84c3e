// Command msnaudit grades captured network traffic against Microsoft's
// "Network ports and URLs that are required for Windows Live Messenger 2009
// to work" (KB 960820): which Messenger feature is blocked, where, how, and
// what must be opened.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, as DESIGN.md fixes them.
const (
	exitOK      = 0 // the audit ran and no feature is blocked or partial
	exitBlocked = 1 // the audit ran and at least one feature is blocked or partial
	exitUsage   = 2 // bad usage or unreadable input
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `msnaudit grades captured traffic against the Windows Live Messenger 2009
"required ports and URLs" article (KB 960820).

Usage:
  msnaudit audit [flags] FILE [FILE...]   audit pcap/pcapng files (.gz too; - for stdin)
  msnaudit watch -i IFACE [flags]         watch live traffic (Linux, CAP_NET_RAW); final report on stop
  msnaudit rules [--rules FILE]           print the rule table
  msnaudit version                        print the version

Run "msnaudit audit -h" or "msnaudit watch -h" for their flags.
Exit status: 0 no feature blocked, 1 a feature is blocked or partial, 2 bad usage or input.
`

// usageError is bad usage: printed with a pointer to -h, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries an exit status through run's error return.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; main only turns its result into an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "audit":
		err = runAudit(ctx, args[1:], stdin, stdout, stderr)
	case "watch":
		err = runWatch(ctx, args[1:], stdout, stderr)
	case "rules":
		err = runRules(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "msnaudit", version)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "msnaudit: %s (see msnaudit -h)\n", ue.msg)
		return exitUsage
	}
	fmt.Fprintf(stderr, "msnaudit: %v\n", err)
	return exitUsage
}
