package classify

import (
	"runtime/debug"
	"sync"

	"github.com/msnaudit/msnaudit/capture"
)

// Batch feeds packets as Packet feeds each, in order, with the work spread
// over cfg.Workers goroutines: they decode a share of the batch each, then
// each feeds its shards their packets, then the shards' events apply in
// packet order. The report is the same as Packet's, packet by packet. The
// packets' data must stay valid until Batch returns; a fault reading it (a
// mapped file that shrank) is a panic on the caller's goroutine.
func (a *Auditor) Batch(pkts []capture.Packet) {
	if a.workers <= 1 || len(pkts) < 2*a.workers {
		for i := range pkts {
			a.Packet(&pkts[i])
		}
		return
	}
	if a.pool == nil {
		a.pool = newPool(a.workers)
	}
	b := &a.pool.batch
	n := len(pkts)
	b.pkts, b.base = pkts, a.seq
	if cap(b.d) < n {
		b.d, b.key, b.ts, b.shard, b.sweep = make([]decoded, n), make([]flowKey, n), make([]int64, n), make([]uint8, n), make([]bool, n)
	}
	b.d, b.key, b.ts, b.shard, b.sweep = b.d[:n], b.key[:n], b.ts[:n], b.shard[:n], b.sweep[:n]
	for i := range pkts {
		b.ts[i], b.sweep[i] = a.clock(&pkts[i])
	}
	a.seq += uint64(n)
	a.pool.run(a, phaseDecode)
	for i := range a.pool.counts {
		a.count(&a.pool.counts[i])
		a.pool.counts[i] = decodeCounts{}
	}
	a.pool.run(a, phaseFeed)
	a.apply()
	b.pkts = nil // (b.d still points into the last batch's bytes until the next one)
}

// Close stops Batch's goroutines. The auditor can still be fed; a later
// Batch starts them again.
func (a *Auditor) Close() {
	if a.pool != nil {
		a.pool.stop()
		a.pool = nil
	}
}

type phase uint8

const (
	phaseDecode phase = iota // worker w decodes the w-th share of the batch
	phaseFeed                // worker w feeds the shards s with s % workers == w
)

// batch is the packets of one Batch call, decoded.
type batch struct {
	pkts  []capture.Packet
	base  uint64 // the first packet's sequence number
	d     []decoded
	key   []flowKey
	ts    []int64
	shard []uint8
	sweep []bool
}

// pool is Batch's workers: the caller is worker 0, goroutines the others.
type pool struct {
	workers int
	batch   batch
	counts  []decodeCounts
	start   []chan phase
	fault   []any // a worker's panic in the last phase
	done    sync.WaitGroup
	a       *Auditor
}

func newPool(workers int) *pool {
	p := &pool{workers: workers, counts: make([]decodeCounts, workers), start: make([]chan phase, workers), fault: make([]any, workers)}
	for w := 1; w < workers; w++ {
		p.start[w] = make(chan phase)
		go func() {
			// A mapped capture that shrinks under us faults: the panic is
			// handed to Batch's caller (capture.IsFault tells it apart).
			debug.SetPanicOnFault(true)
			for ph := range p.start[w] {
				p.fault[w] = p.guarded(w, ph)
				p.done.Done()
			}
		}()
	}
	return p
}

// run runs a phase on every worker and returns when all are done.
func (p *pool) run(a *Auditor, ph phase) {
	p.a = a
	p.done.Add(p.workers - 1)
	for w := 1; w < p.workers; w++ {
		p.start[w] <- ph
	}
	p.work(0, ph)
	p.done.Wait()
	for _, r := range p.fault {
		if r != nil {
			panic(r)
		}
	}
}

// guarded runs a worker's phase and returns its panic, if any.
func (p *pool) guarded(w int, ph phase) (r any) {
	defer func() { r = recover() }()
	p.work(w, ph)
	return nil
}

func (p *pool) stop() {
	for w := 1; w < p.workers; w++ {
		close(p.start[w])
	}
}

func (p *pool) work(w int, ph phase) {
	b, a := &p.batch, p.a
	n := len(b.pkts)
	switch ph {
	case phaseDecode:
		c := &p.counts[w]
		for i := w * n / p.workers; i < (w+1)*n/p.workers; i++ {
			b.shard[i] = decodePacket(&b.pkts[i], &b.d[i], &b.key[i], c)
		}
	case phaseFeed:
		for i := range n {
			if s := b.shard[i]; s != noShard && int(s)%p.workers == w {
				a.shards[s].packet(&b.d[i], &b.key[i], ifaceOf(&b.pkts[i], &b.d[i]), b.ts[i], b.pkts[i].Length, b.base+uint64(i))
			}
			if b.sweep[i] {
				for s := w; s < numShards; s += p.workers {
					a.shards[s].sweep(b.ts[i], b.base+uint64(i))
				}
			}
		}
	}
}
