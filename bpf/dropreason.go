package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// DropReasons reads the names of the kernel's drop reasons from its BTF
// (enum skb_drop_reason): value -> name without the SKB_DROP_REASON_ prefix
// ("NETFILTER_DROP"; SKB_NOT_DROPPED_YET and SKB_CONSUMED lose their SKB_).
// The values differ between kernels, so they are never hard-coded.
func DropReasons(kernel *btf.Spec) (map[uint32]string, error) {
	var enum *btf.Enum
	if err := kernel.TypeByName("skb_drop_reason", &enum); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, fmt.Errorf("kernel btf has no enum skb_drop_reason (Linux 5.17 or newer has it): %w", err)
		}
		return nil, fmt.Errorf("read enum skb_drop_reason: %w", err)
	}
	names := make(map[uint32]string, len(enum.Values))
	for _, v := range enum.Values {
		n := strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
		n = strings.TrimPrefix(n, "SKB_")
		names[uint32(v.Value)] = n
	}
	return names, nil
}
