//go:build !linux

package bpf

import (
	"errors"

	"github.com/msnaudit/msnaudit/classify"
)

// Options says where the engine attaches; see the Linux build.
type Options struct {
	Interfaces    []string
	Drops         bool
	PayloadBudget uint32
	AttachMode    string
	RingBuffer    uint64
}

// Engine is the eBPF engine; only Linux has one.
type Engine struct{}

// Load fails: the eBPF engine needs Linux.
func Load(*classify.Rules, Options) (*Engine, error) {
	return nil, &UnavailableError{Missing: "Linux", Err: errors.ErrUnsupported}
}

// Close does nothing.
func (e *Engine) Close() error { return nil }
