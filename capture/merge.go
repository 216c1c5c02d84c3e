package capture

import (
	"errors"
	"fmt"
	"io"
)

// Merge returns a Source that delivers the packets of srcs in time order,
// with Packet.Input set to the index of the source each came from. Packets
// with equal times come in input order; each source's own order is kept.
// names[i] (optional; names may be nil or shorter) names srcs[i] in errors
// that do not already name it.
//
// When a source reports a truncated input (ErrTruncated), the merged source
// still delivers every packet of the others, then returns the first such
// error instead of io.EOF. Any other error from a source is returned at once
// and ends the merged source. Closing it closes every source.
//
// Each source is advanced only after its previous packet was handed out, so
// the packets held for the other sources stay valid.
func Merge(names []string, srcs []Source) Source {
	m := &merger{names: names, srcs: srcs, heads: make([]Packet, len(srcs)), last: -1}
	return m
}

type merger struct {
	names   []string
	srcs    []Source
	heads   []Packet // head packet of each source in the heap
	heap    []int    // indices into srcs, a min-heap by (time, index)
	started bool
	last    int   // source whose head was handed out last and must advance, or -1
	trunc   error // first truncation error
	err     error // sticky
}

func (m *merger) less(a, b int) bool {
	ta, tb := m.heads[a].Time, m.heads[b].Time
	return ta < tb || ta == tb && a < b
}

func (m *merger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			c = r
		}
		if !m.less(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// advance reads the next packet of source i. It reports whether the source
// has one; when not, the source is finished (or err is set).
func (m *merger) advance(i int) (bool, error) {
	err := m.srcs[i].Next(&m.heads[i])
	switch {
	case err == nil:
		m.heads[i].Input = i
		m.heads[i].Multi = m.heads[i].Multi || len(m.srcs) > 1
		return true, nil
	case err == io.EOF:
		return false, nil
	case errors.Is(err, ErrTruncated):
		if m.trunc == nil {
			m.trunc = m.wrap(i, err)
		}
		return false, nil
	}
	return false, m.wrap(i, err)
}

// wrap names source i in err unless err already names its file.
func (m *merger) wrap(i int, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	name := fmt.Sprintf("input %d", i)
	if i < len(m.names) && m.names[i] != "" {
		name = m.names[i]
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Next implements Source.
func (m *merger) Next(p *Packet) error {
	if m.err != nil {
		return m.err
	}
	if !m.started {
		m.started = true
		m.heap = make([]int, 0, len(m.srcs))
		for i := range m.srcs {
			ok, err := m.advance(i)
			if err != nil {
				m.err = err
				return err
			}
			if ok {
				m.heap = append(m.heap, i)
			}
		}
		for i := len(m.heap)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
	} else if m.last >= 0 {
		// The root is the source whose packet was handed out last.
		ok, err := m.advance(m.last)
		m.last = -1
		if err != nil {
			m.err = err
			return err
		}
		if !ok {
			n := len(m.heap) - 1
			m.heap[0] = m.heap[n]
			m.heap = m.heap[:n]
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
	}
	if len(m.heap) == 0 {
		m.err = io.EOF
		if m.trunc != nil {
			m.err = m.trunc
		}
		return m.err
	}
	i := m.heap[0]
	*p = m.heads[i]
	m.last = i
	return nil
}

// Close implements Source: it closes every source.
func (m *merger) Close() error {
	var errs []error
	for i, s := range m.srcs {
		if err := s.Close(); err != nil {
			errs = append(errs, m.wrap(i, err))
		}
	}
	m.err = errClosed
	return errors.Join(errs...)
}
