//go:build !linux

package main

import (
	"errors"

	"github.com/msnaudit/msnaudit/bpf"
	"github.com/msnaudit/msnaudit/classify"
)

// openEBPF fails: the eBPF engine needs Linux.
func openEBPF(*watchOptions, *classify.Rules, func(string, ...any)) (liveEngine, error) {
	return nil, &bpf.UnavailableError{Missing: "Linux", Err: errors.ErrUnsupported}
}
