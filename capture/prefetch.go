package capture

// Prefetch reads src on its own goroutine, so that reading (and any
// decompression) runs on one core while the caller works on another.
// Packets come out in the same order with the same contents; the caller's
// Packet.Data stays valid until its next Next, as with any Source.
//
// Packets travel in batches whose bytes are copied into reused slabs, so the
// steady state allocates nothing per packet.
func Prefetch(src Source) Source {
	p := &prefetcher{src: src, full: make(chan *batch, prefetchDepth), free: make(chan *batch, prefetchDepth+2), stop: make(chan struct{})}
	slab := batchBytes
	if m, ok := src.(interface{ mappedInput() *input }); ok {
		if p.in = m.mappedInput(); p.in != nil {
			p.in.keep = true // batches hold the packets' pages until they come back
			slab = 0
		}
	}
	for range prefetchDepth + 2 {
		p.free <- &batch{data: make([]byte, 0, slab), pkts: make([]Packet, 0, batchPackets)}
	}
	go p.run()
	return p
}

const (
	prefetchDepth = 4
	batchPackets  = 4096
	batchBytes    = 1 << 20
)

type batch struct {
	data []byte
	pkts []Packet
	err  error // the source's error after the last packet of this batch
	end  int   // zero-copy: the mapped input's position after the batch
}

type prefetcher struct {
	src        Source
	in         *input // the source's mapped input: batches point into it, uncopied
	full, free chan *batch
	stop       chan struct{}
	cur        *batch
	i          int
	err        error
}

func (p *prefetcher) run() {
	defer close(p.full)
	var pkt Packet
	for {
		var b *batch
		select {
		case b = <-p.free:
		case <-p.stop:
			return
		}
		start := 0
		if p.in != nil {
			p.in.releaseTo(b.end) // the consumer is done with it and every batch before
			start = p.in.pos
		}
		b.data, b.pkts, b.err = b.data[:0], b.pkts[:0], nil
		for len(b.pkts) < batchPackets {
			if p.in != nil {
				if b.err = p.src.Next(&pkt); b.err != nil {
					break
				}
				b.pkts = append(b.pkts, pkt)
				b.end = p.in.pos
				if b.end-start >= batchBytes {
					break // the batches in flight hold the pages of their packets resident
				}
				continue
			}
			if err := p.src.Next(&pkt); err != nil {
				b.err = err
				break
			}
			if len(b.data)+len(pkt.Data) > cap(b.data) && len(b.pkts) > 0 {
				// The slab is full: send it, and start the next batch with
				// this packet.
				p.send(b)
				select {
				case b = <-p.free:
				case <-p.stop:
					return
				}
				b.data, b.pkts, b.err = b.data[:0], b.pkts[:0], nil
			}
			if len(pkt.Data) > cap(b.data) {
				b.data = make([]byte, 0, len(pkt.Data)+batchBytes) // a packet larger than a slab
			}
			start := len(b.data)
			b.data = append(b.data, pkt.Data...)
			q := pkt
			q.Data = b.data[start:len(b.data):len(b.data)]
			b.pkts = append(b.pkts, q)
		}
		if !p.send(b) || b.err != nil {
			return
		}
	}
}

func (p *prefetcher) send(b *batch) bool {
	select {
	case p.full <- b:
		return true
	case <-p.stop:
		return false
	}
}

// Next returns the next packet, or the source's error once its packets are done.
func (p *prefetcher) Next(pkt *Packet) error {
	for {
		if p.err != nil {
			return p.err
		}
		if p.cur != nil {
			if p.i < len(p.cur.pkts) {
				*pkt = p.cur.pkts[p.i]
				p.i++
				return nil
			}
			if p.cur.err != nil {
				p.err = p.cur.err
				continue
			}
			p.free <- p.cur
			p.cur = nil
		}
		b, ok := <-p.full
		if !ok {
			p.err = errClosed
			continue
		}
		p.cur, p.i = b, 0
	}
}

// NextBatch returns the packets left in the current batch, or the next
// batch's, or the source's error once its packets are done. The packets'
// Data stay valid until the next call to Next or NextBatch.
func (p *prefetcher) NextBatch() ([]Packet, error) {
	var pkt Packet
	if err := p.Next(&pkt); err != nil {
		return nil, err
	}
	pkts := p.cur.pkts[p.i-1:]
	p.i = len(p.cur.pkts)
	return pkts, nil
}

// Close stops the reading goroutine and closes the source.
func (p *prefetcher) Close() error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	for range p.full { // let the goroutine finish before closing its source
	}
	return p.src.Close()
}
