package classify

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/msnaudit/msnaudit/capture"
)

// readAll reads a capture's packets, their bytes copied.
func readAll(t *testing.T, path string) (pkts []capture.Packet, truncated bool) {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for {
		var p capture.Packet
		if err = src.Next(&p); err != nil {
			break
		}
		p.Data = bytes.Clone(p.Data)
		pkts = append(pkts, p)
	}
	// A capture that ends in a format error (the hostile ones) is compared
	// on the packets before it.
	return pkts, !errors.Is(err, io.EOF)
}

func reportJSON(t *testing.T, a *Auditor, truncated bool) string {
	t.Helper()
	b, err := json.Marshal(a.Report([]string{"x"}, truncated))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBatchIsIdentical: feeding the shards from several goroutines, in
// batches of any size, gives the report Packet gives, byte for byte: on
// every test capture, with the default limits and with limits small enough
// that flows are evicted, swept idle and left out of the listing.
func TestBatchIsIdentical(t *testing.T) {
	files, _ := filepath.Glob("../testdata/*.pcap*")
	hostile, _ := filepath.Glob("../testdata/hostile/*.pcap*")
	files = append(files, hostile...)
	var caps int
	small := DefaultConfig()
	small.MaxFlows, small.IdleTimeout, small.MaxListed, small.MaxReassembly = 20, 2*time.Second, 3, 4096
	small.AllFlows = true
	for _, f := range files {
		if filepath.Ext(f) == ".json" {
			continue
		}
		caps++
		pkts, truncated := readAll(t, f)
		for _, cfg := range []Config{DefaultConfig(), small} {
			serial := NewAuditor(cfg)
			for i := range pkts {
				serial.Packet(&pkts[i])
			}
			want := reportJSON(t, serial, truncated)
			for _, workers := range []int{2, 3, 16} {
				for _, size := range []int{1, 7, 64, 4096} {
					cfg.Workers = workers
					a := NewAuditor(cfg)
					for i := 0; i < len(pkts); i += size {
						a.Batch(pkts[i:min(i+size, len(pkts))])
					}
					if got := reportJSON(t, a, truncated); got != want {
						t.Errorf("%s (max-flows %d): %d workers, batches of %d: the report differs from Packet's:\n%s\nwant\n%s",
							f, cfg.MaxFlows, workers, size, got, want)
					}
				}
			}
		}
	}
	if caps < 20 {
		t.Fatalf("only %d captures compared", caps)
	}
}

// TestBatchFaultReachesTheCaller: when the bytes of a batch fault (a mapped
// capture truncated under the auditor), every worker's panic is handed to
// Batch's caller, who can tell it is a fault, instead of killing the
// process from another goroutine.
func TestBatchFaultReachesTheCaller(t *testing.T) {
	var file bytes.Buffer
	file.Write([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	frame := make([]byte, 1400)
	for i := 0; file.Len() < 8<<20; i++ {
		file.Write([]byte{byte(i), byte(i >> 8), 0, 0, 0, 0, 0, 0, 0x78, 5, 0, 0, 0x78, 5, 0, 0})
		file.Write(frame)
	}
	name := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(name, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pkts := make([]capture.Packet, 3000)
	for i := range pkts {
		if err := src.Next(&pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(name, 4096); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Workers = 2
	a := NewAuditor(cfg)
	defer a.Close()
	r := func() (r any) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { r = recover() }()
		a.Batch(pkts)
		return nil
	}()
	if !capture.IsFault(r) {
		t.Fatalf("Batch over truncated mapped bytes: recovered %v, want a fault", r)
	}
}

// BenchmarkFeed compares, side by side, feeding packets one by one
// (Packet) with feeding them in batches over two goroutines (Batch), on
// 24,000 concurrent TCP flows whose packets (servers' data segments)
// interleave, cut at 128 bytes:
//
//	go test ./classify -run '^$' -bench Feed -benchmem
func BenchmarkFeed(b *testing.B) {
	const flows, rounds, snap = 24000, 4, 128
	tmpl := steadyPackets(b)[7] // a server's data segment, 1400 bytes of payload
	data := make([]byte, 0, flows*rounds*snap)
	pkts := make([]capture.Packet, 0, flows*rounds)
	for r := range rounds {
		for f := range flows {
			start := len(data)
			data = append(data, tmpl[:snap]...)
			d := data[start:]
			binary.BigEndian.PutUint16(d[14+16+2:], uint16(f))      // destination address, low half
			binary.BigEndian.PutUint16(d[14+20+2:], uint16(1024+f)) // destination port
			binary.BigEndian.PutUint32(d[14+20+4:], uint32(r*1400))
			pkts = append(pkts, capture.Packet{Link: capture.LinkEthernet, Data: d, Length: len(tmpl)})
		}
	}
	for _, workers := range []int{1, 2} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Workers = workers
			a := NewAuditor(cfg)
			defer a.Close()
			b.ReportAllocs()
			ts := int64(1_700_000_000_000_000_000)
			for n := 0; n < b.N; {
				chunk := pkts[n%len(pkts):][:min(2048, b.N-n, len(pkts)-n%len(pkts))]
				for i := range chunk {
					ts += 1000
					chunk[i].Time = ts
				}
				a.Batch(chunk)
				n += len(chunk)
			}
		})
	}
}

// TestReportCountsShardEvictions: flows evicted past --max-flows and
// reassemblies given up for the memory budget, counted by the shards, reach
// the report.
func TestReportCountsShardEvictions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFlows, cfg.MaxReassembly = 16, 16 // one flow and one byte of reassembly per shard
	var evicted, dropped uint64
	for _, f := range []string{"../testdata/outcomes.pcapng", "../testdata/tls-split.pcap"} {
		pkts, _ := readAll(t, f)
		for _, workers := range []int{1, 2} {
			cfg.Workers = workers
			a := NewAuditor(cfg)
			a.Batch(pkts)
			st := a.Stats()
			r := a.Report(nil, false)
			if r.Capture.FlowsEvicted != st.Evicted || r.Capture.ReassemblyDropped != st.ReassemblyDropped {
				t.Errorf("%s, %d workers: stats evicted %d, reassembly dropped %d; report %d, %d",
					f, workers, st.Evicted, st.ReassemblyDropped, r.Capture.FlowsEvicted, r.Capture.ReassemblyDropped)
			}
			evicted += st.Evicted
			dropped += st.ReassemblyDropped
		}
	}
	if evicted == 0 || dropped == 0 {
		t.Errorf("nothing to compare: %d evicted, %d reassemblies dropped", evicted, dropped)
	}
}

// BenchmarkReport: the report of 24,000 flows still open at the end (the
// bench capture has about as many), judged in the order they were last
// seen:
//
//	go test ./classify -run '^$' -bench Report -benchtime 20x
func BenchmarkReport(b *testing.B) {
	const flows = 24000
	tmpl := steadyPackets(b)[7]
	pkts := make([]capture.Packet, 0, flows)
	for f := range flows {
		d := append([]byte(nil), tmpl[:128]...)
		binary.BigEndian.PutUint16(d[14+16+2:], uint16(f))
		binary.BigEndian.PutUint16(d[14+20+2:], uint16(1024+f))
		pkts = append(pkts, capture.Packet{Link: capture.LinkEthernet, Data: d, Length: len(tmpl), Time: int64(1_700_000_000_000_000_000 + f*1000)})
	}
	for b.Loop() {
		b.StopTimer()
		cfg := DefaultConfig()
		cfg.AllFlows = true
		a := NewAuditor(cfg)
		a.Batch(pkts)
		b.StartTimer()
		a.Report(nil, false)
	}
}
