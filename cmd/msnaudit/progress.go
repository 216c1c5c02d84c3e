package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// progress draws a one-line progress report on a terminal's stderr while an
// audit reads: bytes read of the inputs' total size, packets, rate.
type progress struct {
	w       io.Writer
	total   int64 // bytes of the inputs on disk (0 if unknown: stdin, pipes)
	gz      bool  // sizes on disk are compressed: show bytes read, not a percentage
	read    atomic.Int64
	packets atomic.Int64
	start   time.Time
	done    chan struct{}
	stopped chan struct{}
}

// startProgress shows progress on stderr if it is a terminal, else returns nil.
func startProgress(stderr io.Writer, inputs []string) *progress {
	if !isTerminal(stderr) {
		return nil
	}
	p := &progress{w: stderr, start: time.Now(), done: make(chan struct{}), stopped: make(chan struct{})}
	for _, in := range inputs {
		fi, err := os.Stat(in)
		if in == "-" || err != nil || !fi.Mode().IsRegular() {
			p.total = 0
			break
		}
		p.total += fi.Size()
		if len(in) > 3 && in[len(in)-3:] == ".gz" {
			p.gz = true
		}
	}
	go p.loop()
	return p
}

// add counts one packet of n captured bytes (plus its record header).
func (p *progress) add(n int) {
	if p != nil {
		p.read.Add(int64(n) + 16)
		p.packets.Add(1)
	}
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progress) draw() {
	read, pkts := p.read.Load(), p.packets.Load()
	secs := time.Since(p.start).Seconds()
	line := fmt.Sprintf("%d packets, %.0f MB read", pkts, float64(read)/1e6)
	if p.total > 0 && !p.gz {
		pct := min(100*float64(read)/float64(p.total), 100)
		const width = 30
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if float64(i) < pct/100*width {
				bar[i] = '='
			}
		}
		line = fmt.Sprintf("[%s] %3.0f%% %s of %.0f MB", bar, pct, line, float64(p.total)/1e6)
	}
	if secs > 0 {
		line += fmt.Sprintf(", %.0f MB/s", float64(read)/1e6/secs)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

// stop erases the progress line.
func (p *progress) stop() {
	if p != nil {
		close(p.done)
		<-p.stopped
	}
}
