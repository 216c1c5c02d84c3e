//go:build linux

package bpf

import (
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

// TestGeneratedTypeSizes holds the Go types bpf2go generated to the sizes
// of the C structs in the embedded object's BTF, and to the sizes the code
// that reads the ring buffer relies on.
func TestGeneratedTypeSizes(t *testing.T) {
	spec, err := loadMsnaudit()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		c    string
		goSz uintptr
		want uintptr
	}{
		{"flow_key", unsafe.Sizeof(msnauditFlowKey{}), 40},
		{"dir_stats", unsafe.Sizeof(msnauditDirStats{}), 48},
		{"flow_stats", unsafe.Sizeof(msnauditFlowStats{}), 128},
		{"event", unsafe.Sizeof(msnauditEvent{}), 72},
	} {
		var s *btf.Struct
		if err := spec.Types.TypeByName(c.c, &s); err != nil {
			t.Fatalf("%s: %v", c.c, err)
		}
		if uintptr(s.Size) != c.goSz || c.goSz != c.want {
			t.Errorf("struct %s: C %d bytes, Go %d, want %d", c.c, s.Size, c.goSz, c.want)
		}
	}
}
