//go:build linux

package bpf

import (
	"bytes"
	"testing"
	"time"

	"github.com/msnaudit/msnaudit/classify"
	"github.com/msnaudit/msnaudit/classify/inspect/inspecttest"
)

// TestDrainAndMerge drives an auditor from the engine: the ClientHello
// names the flow, Drain marks it named so the server's answer is only
// counted in the kernel, and Merge brings that count to the auditor, which
// judges the flow ok (without the kernel's counters it would look like a
// reset-after-hello or a drop).
func TestDrainAndMerge(t *testing.T) {
	e := loadEngine(t, Options{})
	a := classify.NewAuditor(classify.DefaultConfig())
	cli, srv := ap("192.0.2.10:50300"), ap("198.51.100.40:443")
	hello := inspecttest.ClientHello(t, "login.live.com")
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "S"}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: srv, dst: cli, flags: "SA"}))
	run(t, e.objs.TcL2, frame(t, pktSpec{src: cli, dst: srv, flags: "PA", seq: 1001, payload: hello}))
	n, err := e.Drain(a, time.Now())
	if err != nil || n != 3 {
		t.Fatalf("Drain: %d events, %v", n, err)
	}
	for range 3 {
		run(t, e.objs.TcL2, frame(t, pktSpec{src: srv, dst: cli, flags: "PA", payload: bytes.Repeat([]byte{0x16}, 1000)}))
	}
	if n, err := e.Drain(a, time.Now()); err != nil || n != 0 {
		t.Fatalf("after the flow was named: %d events, %v", n, err)
	}
	now := time.Now().UnixNano()
	a.Advance(now)
	ms, err := e.Merge(a, now, time.Minute)
	if err != nil || ms.Flows != 1 || ms.Deleted != 0 || ms.Evicted != 0 {
		t.Fatalf("Merge: %+v, %v", ms, err)
	}
	r := a.Snapshot(nil)
	if len(r.Flows) != 1 {
		t.Fatalf("flows %+v", r.Flows)
	}
	f := r.Flows[0]
	if f.Host != "login.live.com" || f.Outcome != classify.OK || f.Packets != 6 {
		t.Errorf("flow %+v", f)
	}
	// Idle past the timeout: deleted from the kernel.
	ms, err = e.Merge(a, now+int64(2*time.Minute), time.Minute)
	if err != nil || ms.Deleted != 1 {
		t.Fatalf("Merge later: %+v, %v", ms, err)
	}
	if fl := flows(t, e); len(fl) != 0 {
		t.Errorf("kernel flows left: %d", len(fl))
	}
}
