//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/msnaudit/msnaudit/classify"
)

// SetRules writes the ports of rule table rs into the kernel, as Load does
// with its table: from then on the programs send the payload of the ports
// rs inspects, and no longer of those only the old table did (the flows
// they already count go on being counted). msnaudit watch calls it when
// SIGHUP reloads the rules.
func (e *Engine) SetRules(rs *classify.Rules) error {
	if rs == nil {
		rs = classify.Default()
	}
	keys := make([]uint32, 65536)
	vals := make([]uint8, 65536)
	for i := range keys {
		keys[i] = uint32(i)
	}
	for _, kv := range portClasses(rs) {
		vals[kv.Key.(uint32)] = kv.Value.(uint8)
	}
	_, err := e.objs.PortClass.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) { // before Linux 5.6: one port at a time
		err = nil
		for i, k := range keys {
			if err = e.objs.PortClass.Put(k, vals[i]); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("write the rule table's ports into the kernel: %w", err)
	}
	return nil
}
