//go:build linux

package bpf

import (
	"bytes"
	"testing"

	"github.com/msnaudit/msnaudit/classify"
)

// TestPortClasses: the kernel's port map comes from the rule table.
func TestPortClasses(t *testing.T) {
	got := map[uint32]uint8{}
	for _, kv := range portClasses(classify.Default()) {
		got[kv.Key.(uint32)] = kv.Value.(uint8)
	}
	const d, s, i = 1, 2, 8
	for port, want := range map[uint32]uint8{
		1863: d | i,              // TCP distinctive
		443:  s | i,              // TCP shared
		7001: (d | i) | (d|i)<<4, // TCP and UDP distinctive
		9:    (d | i) << 4,       // UDP distinctive
		53:   i | i<<4,           // DNS
		5555: 0,                  // a wide range only: not in the map
	} {
		if got[port] != want {
			t.Errorf("port %d: %#x, want %#x", port, got[port], want)
		}
	}
	// A revival server's rules: a port of its own.
	text := append(append([]byte{}, classify.Default().Text...), "\nport proto=udp port=2000 class=distinctive features=signin\n"...)
	rs, err := classify.ParseRules("revival.rules", bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range portClasses(rs) {
		if kv.Key.(uint32) == 2000 {
			found = kv.Value.(uint8) == (d|i)<<4
		}
	}
	if !found {
		t.Error("custom UDP port 2000 is not distinctive and inspected")
	}
}
