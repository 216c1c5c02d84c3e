package capture

import (
	"errors"
	"fmt"
	"io"
)

const (
	// defaultBufSize is the size of a reader's buffer when the input size is
	// unknown or large. Records larger than the buffer grow it.
	defaultBufSize = 1 << 20
	// minBufSize is the smallest buffer a reader starts with.
	minBufSize = 4 << 10
	// maxRecord bounds any record or block: larger ones are reported as
	// corrupt instead of being buffered.
	maxRecord = 64 << 20
	// defaultMaxCaplen bounds a packet's capture length unless the capture
	// declares a larger snapshot length (as Wireshark does, 256 KiB).
	defaultMaxCaplen = 256 << 10
)

// MaxPacketSize is the largest len(Packet.Data) any Source of this package
// returns.
const MaxPacketSize = maxRecord

// input is a buffered reader over the capture bytes: one large reusable
// buffer, grown only for a record larger than it. Unread data is
// buf[pos:end]; off is the absolute offset of buf[pos] in the input.
type input struct {
	r    io.Reader
	buf  []byte
	pos  int
	end  int
	off  int64
	rerr error // sticky error from r, io.EOF at its end

	// A mapped input's buf is the whole file (mapFile), so pos == off and
	// packets' Data stay valid until their pages are released: by advance,
	// once the packet after them is read, or when keep is set, by the
	// caller (Prefetch hands out batches that outlive Next).
	mapped   bool
	keep     bool
	released int // buf[:released] is given back
}

// releaseStep is how far a mapped input reads past what it gave back
// before it gives back more.
const releaseStep = 8 << 20

// mapMin is the smallest file that is mapped rather than read (a variable
// for the tests, which map every size).
var mapMin int64 = 4 << 20

func mappedInput(m []byte) input {
	return input{buf: m, end: len(m), rerr: io.EOF, mapped: true}
}

// releaseTo gives back the mapped pages below buf[x].
func (in *input) releaseTo(x int) {
	if x &^= pageSize - 1; in.mapped && x > in.released {
		dontNeed(in.buf[in.released:x])
		in.released = x
	}
}

func newInput(r io.Reader, sizeHint int) input {
	n := defaultBufSize
	if sizeHint >= 0 && sizeHint < n {
		n = max(sizeHint+1, minBufSize)
	}
	return input{r: r, buf: make([]byte, n)}
}

// avail is the number of buffered unread bytes.
func (in *input) avail() int { return in.end - in.pos }

// fill tries to make n bytes available at buf[pos:]. It returns nil if they
// are, otherwise the error that stopped reading (io.EOF when the input ended).
// Slices into buf taken before a fill are invalid after it.
func (in *input) fill(n int) error {
	if in.end-in.pos >= n {
		return nil
	}
	if in.rerr != nil {
		return in.rerr
	}
	if n > len(in.buf)-in.pos {
		// Move the unread bytes to the front; grow below if still short.
		copy(in.buf, in.buf[in.pos:in.end])
		in.end -= in.pos
		in.pos = 0
	}
	zero := 0
	for in.end-in.pos < n {
		if in.end == len(in.buf) {
			// Grow step by step as data actually arrives, so a record
			// header claiming a huge length cannot make us allocate much
			// more than the input holds.
			nb := make([]byte, min(max(2*len(in.buf), minBufSize), max(n, defaultBufSize)))
			in.end = copy(nb, in.buf[in.pos:in.end])
			in.pos = 0
			in.buf = nb
		}
		m, err := in.r.Read(in.buf[in.end:])
		if m < 0 || m > len(in.buf)-in.end {
			in.rerr = fmt.Errorf("reader returned invalid count %d", m)
			return in.rerr
		}
		in.end += m
		if err != nil {
			in.rerr = err
			if in.end-in.pos >= n {
				return nil
			}
			return err
		}
		if m == 0 {
			if zero++; zero >= 100 {
				in.rerr = io.ErrNoProgress
				return in.rerr
			}
		}
	}
	return nil
}

// advance consumes n buffered bytes: a record whose bytes stay valid until
// the next advance.
func (in *input) advance(n int) {
	start := in.pos
	in.pos += n
	in.off += int64(n)
	if in.mapped && !in.keep && start-in.released >= releaseStep {
		in.releaseTo(start)
	}
}

// release drops the buffer and the reader.
func (in *input) release(err error) {
	in.buf = nil
	in.pos, in.end = 0, 0
	in.r = nil
	in.rerr = err
}

// errClosed is returned by Next after Close.
var errClosed = errors.New("capture source is closed")
