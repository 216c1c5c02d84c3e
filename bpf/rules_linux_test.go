//go:build linux

package bpf

import (
	"os"
	"strings"
	"testing"

	"github.com/msnaudit/msnaudit/classify"
)

// TestSetRules: a reloaded table's ports replace the old ones in the
// kernel: a port it adds is inspected, a port it drops no longer is.
func TestSetRules(t *testing.T) {
	e := loadEngine(t, Options{})
	class := func(port uint32) uint8 {
		var v uint8
		if err := e.objs.PortClass.Lookup(port, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	const inspectTCP = uint8(msnauditPortBitsPORT_INSPECT)
	if class(1863)&inspectTCP == 0 || class(18630)&inspectTCP != 0 {
		t.Fatalf("built-in table: port 1863 class %#x, 18630 class %#x", class(1863), class(18630))
	}
	// The built-in table with TCP 1863 moved to 18630.
	b, err := os.ReadFile("../classify/kb960820.rules")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := classify.ParseRules("moved.rules", strings.NewReader(strings.ReplaceAll(string(b), "1863", "18630")))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetRules(rs); err != nil {
		t.Fatal(err)
	}
	if class(18630)&inspectTCP == 0 || class(1863) != 0 {
		t.Errorf("after SetRules: port 18630 class %#x, 1863 class %#x", class(18630), class(1863))
	}
	if class(53)&inspectTCP == 0 {
		t.Errorf("after SetRules: DNS is no longer inspected")
	}
}
