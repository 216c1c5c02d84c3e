// Package bpf is msnaudit's eBPF engine: a TCX (or tc clsact) program that
// counts every TCP and UDP packet per flow in the kernel and sends user space
// only what it needs to name flows, and a tp_btf/kfree_skb program that
// reports the kernel's own drops of those flows with their reason.
//
// The C source is msnaudit.c; the Go bindings and objects bpf2go makes from it
// are committed, so building msnaudit needs no clang. After changing the C,
// run `go generate ./bpf` (clang, llvm-strip and libbpf's headers needed; see
// check-generated.sh for the versions the committed objects were built with).
package bpf

//go:generate go tool bpf2go -tags linux -type event -type flow_key -type flow_stats -type dir_stats -type event_kind -type port_bits -type stat_index -type link_type msnaudit msnaudit.c -- -mcpu=v3 -Wall -Werror
