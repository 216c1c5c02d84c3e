package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/klauspost/compress/gzip"
	"io"
	"io/fs"
	"math"
	"os"
)

// errIsDirectory is wrapped in the error Open returns for a directory.
var errIsDirectory = errors.New("is a directory, not a capture file")

// Open opens the capture file name ("-" for standard input), which may be
// pcap or pcapng, either gzip-compressed or not. Errors opening the file are
// the *fs.PathError from the operating system (which names the file); bad
// content gives a *FormatError. A capture with a header and no packets is not
// an error: its Source returns io.EOF at once.
func Open(name string) (Source, error) {
	if name == "-" {
		return newReader(name, os.Stdin, -1, nil, false)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDirectory}
	}
	hint := -1
	if st.Mode().IsRegular() {
		hint = int(min(st.Size(), math.MaxInt32))
		var magic [2]byte
		if _, err := f.ReadAt(magic[:], 0); err == nil && magic != [2]byte{0x1f, 0x8b} {
			// Not gzip-compressed: parse it in place.
			if s, err := openMapped(name, f, st.Size()); s != nil || err != nil {
				return s, err
			}
		}
	}
	s, err := newReader(name, f, hint, []io.Closer{f}, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// NewReader returns a Source reading a capture (pcap or pcapng, maybe
// gzip-compressed) from r; name is used in errors. It reads the file header
// before returning. Closing the Source does not close r.
func NewReader(name string, r io.Reader) (Source, error) {
	hint := -1
	if l, ok := r.(interface{ Len() int }); ok {
		hint = l.Len()
	}
	return newReader(name, r, hint, nil, false)
}

// newReader detects the format of r and returns its reader. hint is the
// input size if known, else -1. gz is set for decompressed data.
func newReader(name string, r io.Reader, hint int, closers []io.Closer, gz bool) (Source, error) {
	return newSource(base{name: name, gz: gz, in: newInput(r, hint), closers: closers})
}

// openMapped returns the reader of a mapped file; nil and no error if the
// file cannot be mapped. On error the file is closed.
func openMapped(name string, f *os.File, size int64) (Source, error) {
	m := mapFile(f, size)
	if m == nil {
		return nil, nil
	}
	s, err := newSource(base{name: name, in: mappedInput(m), closers: []io.Closer{f, unmapper(m)}})
	if err != nil {
		unmap(m)
		f.Close()
		return nil, err
	}
	return s, nil
}

// unmapper unmaps a mapped file when its source closes.
type unmapper []byte

func (m unmapper) Close() error { return unmap(m) }

// newSource detects the format of b's input and returns its reader.
func newSource(b base) (Source, error) {
	name, gz, closers := b.name, b.gz, b.closers
	in := &b.in
	if err := in.fill(4); err != nil {
		switch {
		case err == io.EOF && in.avail() == 0:
			return nil, b.fail(0, nil, "empty file, no capture header")
		case err == io.EOF:
			return nil, b.fail(0, nil, "not a pcap or pcapng file (only %d bytes)", in.avail())
		}
		return nil, b.readFail(err, 0, "the file header", 4)
	}
	m := in.buf[in.pos : in.pos+4]
	if m[0] == 0x1f && m[1] == 0x8b && !gz {
		// Hand the bytes already buffered, then the rest, to gzip.
		rest := io.MultiReader(bytes.NewReader(in.buf[in.pos:in.end]), in.r)
		zr, err := gzip.NewReader(rest)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, b.fail(0, ErrTruncated, "capture is cut short inside the gzip header")
			}
			return nil, b.fail(0, err, "bad gzip header")
		}
		return newReader(name, zr, -1, closers, true)
	}
	magic := binary.LittleEndian.Uint32(m)
	switch {
	case isPcapMagic(magic):
		r, err := newPcapReader(b)
		if err != nil {
			return nil, err
		}
		return r, nil
	case magic == blockSHB:
		r, err := newPcapngReader(b)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, b.fail(0, nil, "not a pcap or pcapng file (magic 0x%08x)", bits32BE(m))
}

// bits32BE renders the first four bytes in file order, as hexdump shows them.
func bits32BE(m []byte) uint32 { return binary.BigEndian.Uint32(m) }
