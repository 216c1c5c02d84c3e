package bpf

import (
	"os"
	"testing"
)

func TestRingBufferSize(t *testing.T) {
	page := uint32(os.Getpagesize())
	for _, c := range []struct {
		n    uint64
		want uint32
	}{{1, page}, {uint64(page), page}, {2 << 20, 2 << 20}, {3 << 20, 4 << 20}, {64<<20 + 1, 128 << 20}, {MaxRingBuffer, MaxRingBuffer}} {
		if got, err := RingBufferSize(c.n); err != nil || got != c.want {
			t.Errorf("RingBufferSize(%d) = %d, %v; want %d", c.n, got, err, c.want)
		}
	}
	if _, err := RingBufferSize(MaxRingBuffer + 1); err == nil || err.Error() != "ring buffer of 2048 MiB: at most 2048 MiB" {
		t.Errorf("RingBufferSize(MaxRingBuffer+1): %v", err)
	}
}
