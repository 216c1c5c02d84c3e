package capture

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// base holds what the pcap and pcapng readers share: the input buffer, the
// input's name, the packet count and the sticky error.
type base struct {
	name    string
	gz      bool // offsets refer to decompressed bytes
	in      input
	closers []io.Closer
	npkt    int   // packets delivered so far
	err     error // sticky: returned by every Next once set
}

// fail builds a *FormatError at offset off, makes it sticky and returns it.
func (b *base) fail(off int64, err error, format string, args ...any) error {
	e := &FormatError{
		File:         b.name,
		Offset:       off,
		Msg:          fmt.Sprintf(format, args...),
		Err:          err,
		Decompressed: b.gz,
	}
	b.err = e
	return e
}

// readFail reports that fill could not provide the need bytes of what (a
// record starting at off, say "packet 12" or "the file header"): the input
// ended inside it (ErrTruncated) or reading failed.
func (b *base) readFail(err error, off int64, what string, need int) error {
	switch {
	case errors.Is(err, io.EOF):
		return b.fail(off, ErrTruncated, "capture is cut short inside %s (%d of %d bytes present)", what, b.in.avail(), need)
	case errors.Is(err, io.ErrUnexpectedEOF):
		if b.gz {
			return b.fail(off, ErrTruncated, "capture is cut short inside %s: compressed data ends early", what)
		}
		return b.fail(off, ErrTruncated, "capture is cut short inside %s", what)
	case b.gz:
		return b.fail(off, err, "cannot decompress %s", what)
	}
	return b.fail(off, err, "cannot read %s", what)
}

// endOfInput is called when fill failed at a record boundary with nothing
// left buffered: io.EOF there is the clean end of the capture.
func (b *base) endOfInput(err error) error {
	if err == io.EOF && b.in.avail() == 0 {
		b.err = io.EOF
		return io.EOF
	}
	return nil
}

func (b *base) close() error {
	b.in.release(errClosed)
	b.err = errClosed
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		if err := b.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	b.closers = nil
	return errors.Join(errs...)
}

// guard, deferred by Next on a mapped file, turns the fault of reading a
// page the file no longer has (it shrank while mapped: SIGBUS) into an
// error, and restores the goroutine's fault mode.
func (b *base) guard(err *error, old bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if !IsFault(r) {
			panic(r)
		}
		*err = b.fail(b.in.off, nil, "the file shrank while it was read")
	}
}

// IsFault reports whether a recovered panic value is a memory fault, as
// debug.SetPanicOnFault makes them: reading a mapped capture file that
// shrank while it was read.
func IsFault(r any) bool {
	_, ok := r.(interface{ Addr() uintptr })
	return ok
}

// mappedInput returns the input if it maps the file, else nil.
func (b *base) mappedInput() *input {
	if b.in.mapped {
		return &b.in
	}
	return nil
}

// packetName names the n-th packet (1-based, as Wireshark numbers frames).
func packetName(n int) string { return fmt.Sprintf("packet %d", n) }
