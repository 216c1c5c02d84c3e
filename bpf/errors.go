package bpf

import "errors"

// ErrUnavailable is wrapped by every error that means this system cannot
// run the eBPF engine (so `--engine auto` falls back to AF_PACKET).
var ErrUnavailable = errors.New("ebpf engine unavailable")

// UnavailableError says what the eBPF engine needs and this system lacks.
type UnavailableError struct {
	Missing string // e.g. "TCX (Linux 6.6 or newer)"
	Err     error  // what the kernel answered
}

func (e *UnavailableError) Error() string {
	s := "ebpf engine unavailable: needs " + e.Missing
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }
