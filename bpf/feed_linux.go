//go:build linux

package bpf

import (
	"errors"
	"os"
	"time"

	"github.com/msnaudit/msnaudit/classify"
)

// Drain reads events until the ring buffer is empty after until, feeding
// them to a: packets through Packet, drops through KernelDrop. A flow whose
// payload a no longer reads is marked named, so the kernel stops sending
// it. It returns the number of events read. The auditor is not safe for
// concurrent use: call Drain and Merge from one goroutine.
func (e *Engine) Drain(a *classify.Auditor, until time.Time) (int, error) {
	var ev Event
	n := 0
	e.SetDeadline(until)
	for {
		err := e.ReadEvent(&ev)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if ev.Kind&KindDrop != 0 {
			a.KernelDrop(ev.Src, ev.Dst, ev.Proto, ev.Time, e.DropReason(ev.DropReason))
			continue
		}
		a.Packet(&ev.Packet)
		if ev.Kind&KindPayload != 0 && ev.Kind&KindDNS == 0 && !a.WantsPayload(ev.Src, ev.Dst, ev.Proto) {
			if err := e.MarkNamed(ev.Src, ev.Dst, ev.Proto); err != nil {
				return n, err
			}
		}
	}
}

// MergeStats says what a Merge did.
type MergeStats struct {
	Flows   int    // flows in the kernel's table
	Deleted int    // flows deleted because they were idle past the timeout
	Evicted uint64 // flows the kernel's table evicted when full, since Load
}

// Merge merges the kernel's counters of every flow into a, and deletes from
// the kernel the flows idle past idle at now (Unix ns).
func (e *Engine) Merge(a *classify.Auditor, now int64, idle time.Duration) (MergeStats, error) {
	var (
		ms   MergeStats
		done []Flow
	)
	err := e.Flows(func(f *Flow) bool {
		ms.Flows++
		k := f.Kernel()
		a.KernelCounters(&k)
		if now-f.Last > int64(idle) {
			done = append(done, *f)
		}
		return true
	})
	if err != nil {
		return ms, err
	}
	for i := range done {
		if err := e.DeleteFlow(&done[i]); err != nil {
			return ms, err
		}
		ms.Deleted++
	}
	s, err := e.Stats()
	if err != nil {
		return ms, err
	}
	if live := e.deleted + uint64(ms.Flows-ms.Deleted); s.FlowsCreated > live {
		ms.Evicted = s.FlowsCreated - live
	}
	return ms, nil
}
