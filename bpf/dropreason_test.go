//go:build linux

package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestDropReasonsFromKernelBTF reads the running kernel's drop reasons.
func TestDropReasonsFromKernelBTF(t *testing.T) {
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no kernel BTF: %v", err)
		}
		t.Skipf("no kernel BTF: %v", err)
	}
	names, err := DropReasons(kernel)
	if errors.Is(err, btf.ErrNotFound) {
		t.Skipf("kernel before 5.17: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, n := range []string{"NETFILTER_DROP", "NO_SOCKET", "NOT_SPECIFIED"} {
		if !seen[n] {
			t.Errorf("no drop reason %s among %d", n, len(names))
		}
	}
}
