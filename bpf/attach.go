package bpf

import (
	"fmt"
	"os"
)

// Attach modes for Options.AttachMode.
const (
	AttachAuto = "auto" // TCX where the kernel has it (Linux 6.6), else tc
	AttachTCX  = "tcx"  // TCX links, detached when the engine closes or its process dies
	AttachTC   = "tc"   // direct-action bpf filters on a clsact qdisc, removed by Close
)

// MaxRingBuffer is the largest ring buffer Options.RingBuffer may ask for:
// the kernel's ring buffer size is a power of two in a 32-bit field.
const MaxRingBuffer = 1 << 31

// RingBufferSize is the size of the ring buffer the engine makes for a
// request of n bytes: n rounded up to a power of two and to a whole page,
// as the kernel requires. n must be at most MaxRingBuffer.
func RingBufferSize(n uint64) (uint32, error) {
	if n > MaxRingBuffer {
		return 0, fmt.Errorf("ring buffer of %d MiB: at most %d MiB", n>>20, MaxRingBuffer>>20)
	}
	size := uint64(os.Getpagesize())
	for size < n {
		size <<= 1
	}
	return uint32(size), nil
}
