package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify"
)

// auditOptions are the audit's flags, validated in one place.
type auditOptions struct {
	format   string
	output   string
	rules    string
	color    string
	allFlows bool
	quiet    bool
	parallel bool
	memLimit int64
	cfg      classify.Config
	inputs   []string
}

func parseAuditFlags(args []string, stderr io.Writer) (*auditOptions, error) {
	o := &auditOptions{cfg: classify.DefaultConfig()}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: msnaudit audit [flags] FILE [FILE...]\n\nAudits pcap/pcapng captures (gzip too; - reads standard input); several files are merged in time order.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.format, "format", "table", "output `format`: table, json, markdown or csv")
	fs.StringVar(&o.output, "o", "", "write the report to `FILE` instead of standard output")
	fs.StringVar(&o.rules, "rules", "", "read the rule table from `FILE` instead of the built-in KB 960820 table")
	fs.StringVar(&o.color, "color", "auto", "colour the table: auto (on a terminal), always or never")
	fs.BoolVar(&o.allFlows, "all-flows", false, "list every flow, not only Messenger and possible ones")
	fs.BoolVar(&o.quiet, "quiet", false, "print no warnings or progress on standard error")
	fs.BoolVar(&o.parallel, "parallel", true, "read (and decompress) the capture on one goroutine while --workers goroutines audit it, the flows split by hash")
	fs.IntVar(&o.cfg.Workers, "workers", runtime.GOMAXPROCS(0), "with --parallel, goroutines auditing (up to 16); the report is the same for any number")
	fs.Int64Var(&o.memLimit, "memory-limit", 80<<20, "soft memory limit in bytes for the Go runtime (ignored when GOMEMLIMIT is set); raise it with --max-flows")
	addAuditorFlags(fs, &o.cfg)
	// Flags may come before or after the files.
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitError{exitOK}
			}
			return nil, exitError{exitUsage}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		o.inputs = append(o.inputs, args[0])
		args = args[1:]
	}
	switch {
	case len(o.inputs) == 0:
		return nil, usageError{"audit needs at least one capture file (or - for standard input)"}
	case !oneOf(o.format, "table", "json", "markdown", "csv"):
		return nil, usageError{fmt.Sprintf("--format %q is not table, json, markdown or csv", o.format)}
	case !oneOf(o.color, "auto", "always", "never"):
		return nil, usageError{fmt.Sprintf("--color %q is not auto, always or never", o.color)}
	case o.cfg.Workers <= 0:
		return nil, usageError{"--workers must be at least 1"}
	case o.cfg.MaxFlows <= 0 || o.cfg.MaxListed <= 0 || o.cfg.MaxReassembly <= 0:
		return nil, usageError{"--max-flows, --max-listed and --max-reassembly must be positive"}
	case o.cfg.IdleTimeout <= 0 || o.cfg.Grace < 0:
		return nil, usageError{"--idle-timeout must be positive and --grace not negative"}
	}
	stdin := 0
	for _, in := range o.inputs {
		if in == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return nil, usageError{"standard input (-) can be read only once"}
	}
	o.cfg.AllFlows = o.allFlows
	return o, nil
}

// addAuditorFlags registers the auditor's limits and clocks, shared by
// audit and watch.
func addAuditorFlags(fs *flag.FlagSet, cfg *classify.Config) {
	fs.IntVar(&cfg.MaxFlows, "max-flows", cfg.MaxFlows, "flows tracked at once; past it the least recently seen is finished early (counted as evicted)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "finish a flow idle this long")
	fs.DurationVar(&cfg.Grace, "grace", cfg.Grace, "a SYN or request this close to the end is incomplete, not dropped")
	fs.IntVar(&cfg.MaxListed, "max-listed", cfg.MaxListed, "list at most this many flows in the report, failed Messenger flows first (the rest are counted)")
	fs.IntVar(&cfg.MaxReassembly, "max-reassembly", cfg.MaxReassembly, "bytes held at most, across all flows, to reassemble split ClientHellos and HTTP heads")
}

// setMemoryLimit makes the garbage collector keep the heap near limit
// (a soft limit: live data above it is kept, at some CPU cost), unless the
// user set GOMEMLIMIT.
func setMemoryLimit(limit int64) {
	if os.Getenv("GOMEMLIMIT") == "" && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

func loadRules(path string) (*classify.Rules, error) {
	if path == "" {
		return classify.Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer f.Close()
	return classify.ParseRules(path, f)
}

func runRules(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("rules", "", "print the rule table in `FILE` (checking it) instead of the built-in one")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{exitUsage}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("rules takes no arguments (got %q)", fs.Arg(0))}
	}
	rs, err := loadRules(*path)
	if err != nil {
		return err
	}
	_, err = stdout.Write(rs.Text)
	return err
}

func runAudit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	o, err := parseAuditFlags(args, stderr)
	if err != nil {
		return err
	}
	// Captures are parsed where the page cache maps them: one that shrinks
	// meanwhile faults (SIGBUS) where its bytes were. That is an error, not
	// a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if !capture.IsFault(r) {
				panic(r)
			}
			err = fmt.Errorf("%s: the capture changed while it was read (it shrank?): %v", strings.Join(o.inputs, ", "), r)
		}
	}()
	if o.cfg.Rules, err = loadRules(o.rules); err != nil {
		return err
	}
	setMemoryLimit(o.memLimit)
	src, err := openInputs(o.inputs, stdin)
	if err != nil {
		return err
	}
	if o.parallel {
		src = capture.Prefetch(src)
	}
	defer src.Close()

	a := classify.NewAuditor(o.cfg)
	var bar *progress
	if !o.quiet {
		bar = startProgress(stderr, o.inputs)
	}
	truncated := false
	if b, ok := src.(capture.Batcher); ok {
		for err == nil {
			var pkts []capture.Packet
			if pkts, err = b.NextBatch(); err == nil {
				a.Batch(pkts)
				n := 0
				for i := range pkts {
					n += len(pkts[i].Data)
				}
				bar.add(n)
				err = ctx.Err()
			}
		}
	} else {
		var p capture.Packet
		for err == nil {
			if err = src.Next(&p); err == nil {
				a.Packet(&p)
				bar.add(len(p.Data))
				if a.Stats().Packets&0xffff == 0 && ctx.Err() != nil {
					err = ctx.Err()
				}
			}
		}
	}
	bar.stop()
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, capture.ErrTruncated):
		truncated = true
		if !o.quiet {
			fmt.Fprintf(stderr, "msnaudit: warning: %v; the report covers the packets before it\n", err)
		}
	case errors.Is(err, context.Canceled):
		truncated = true
		if !o.quiet {
			fmt.Fprintln(stderr, "msnaudit: interrupted; the report covers the packets read so far")
		}
	default:
		return err
	}
	if a.Stats().Packets == 0 && !truncated {
		return fmt.Errorf("%s: no packets in the capture (nothing after the file header)", strings.Join(o.inputs, ", "))
	}
	r := a.Report(o.inputs, truncated)
	if err := writeReport(o, r, stdout); err != nil {
		return err
	}
	if r.Blocked() {
		return exitError{exitBlocked}
	}
	return nil
}

// openInputs opens every input and merges them in time order.
func openInputs(names []string, stdin io.Reader) (capture.Source, error) {
	srcs := make([]capture.Source, 0, len(names))
	closeAll := func() {
		for _, s := range srcs {
			s.Close()
		}
	}
	for _, name := range names {
		var s capture.Source
		var err error
		if name == "-" {
			s, err = capture.NewReader("-", stdin)
		} else {
			s, err = capture.Open(name)
		}
		if err != nil {
			closeAll()
			return nil, err
		}
		srcs = append(srcs, s)
	}
	if len(srcs) == 1 {
		return srcs[0], nil
	}
	return capture.Merge(names, srcs), nil
}

// writeReport renders the report to stdout or, with -o, to a temporary file
// renamed into place once complete.
func writeReport(o *auditOptions, r *classify.Report, stdout io.Writer) error {
	color := o.color == "always" || o.color == "auto" && o.output == "" && isTerminal(stdout)
	if o.output == "" {
		return render(stdout, r, o.format, color)
	}
	return writeFileAtomic(o.output, func(w io.Writer) error { return render(w, r, o.format, color) })
}

func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir := "."
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		dir = path[:i+1]
	}
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&os.ModeSymlink != 0 && os.Geteuid() == 0:
			return fmt.Errorf("%s: refusing to write through a symbolic link as root", path)
		case !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0:
			// A device or pipe (/dev/null, /dev/stdout, a FIFO): write to it
			// in place; renaming over it would replace it.
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			if err := write(f); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", path, err)
			}
			return f.Close()
		}
	}
	tmp, err := os.CreateTemp(dir, ".msnaudit-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
