//go:build unix

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// outputGone says why nobody can read what is written to f any more (the
// reader of a pipe exited, a terminal hung up), or nil: poll(2) reports it
// on the writing side without writing anything. A regular file or a
// device never is.
func outputGone(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var revents int16
	var perr error
	if err := rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd)}}
		_, perr = unix.Poll(pfd, 0)
		revents = pfd[0].Revents
	}); err != nil || perr != nil {
		return nil
	}
	switch {
	case revents&unix.POLLERR != 0:
		return errors.New("nobody reads it any more")
	case revents&unix.POLLHUP != 0:
		return errors.New("it hung up")
	case revents&unix.POLLNVAL != 0:
		return errors.New("it is closed")
	}
	return nil
}
