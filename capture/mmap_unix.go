//go:build unix

package capture

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps a regular file read-only, or returns nil (then the file is
// read). Mapped, a capture is parsed where the page cache holds it: no copy
// into a buffer, and pages already parsed are given back (release) so the
// mapping does not grow the process's resident memory.
func mapFile(f *os.File, size int64) []byte {
	if size < mapMin || int64(int(size)) != size {
		return nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	return m
}

func unmap(m []byte) error { return unix.Munmap(m) }

// dontNeed gives back the pages of m: the page cache keeps them, the
// process no longer maps them.
func dontNeed(m []byte) { _ = unix.Madvise(m, unix.MADV_DONTNEED) }

var pageSize = os.Getpagesize()
