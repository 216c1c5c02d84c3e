#!/bin/sh
# check-generated.sh: regenerate the eBPF objects and Go bindings from
# msnaudit.c and fail if they differ from the committed ones.
#
# The committed files were made with Debian bookworm's clang 14.0.6 and
# libbpf-dev 1.1 headers (apt-get install -y clang llvm libbpf-dev). Another
# clang makes different, equally valid bytes, so the check only runs with
# that clang; without clang it is skipped (a build never needs clang).
set -eu
cd "$(dirname "$0")/.."

want="clang version 14.0.6"
if ! command -v clang >/dev/null 2>&1; then
	echo "check-generated: clang not installed, skipped" >&2
	exit 0
fi
if ! clang --version | grep -q "$want"; then
	echo "check-generated: $(clang --version | head -n1) is not $want, skipped" >&2
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp bpf/msnaudit_bpfel.go bpf/msnaudit_bpfel.o bpf/msnaudit_bpfeb.go bpf/msnaudit_bpfeb.o "$tmp"/
go generate ./bpf
status=0
for f in msnaudit_bpfel.go msnaudit_bpfel.o msnaudit_bpfeb.go msnaudit_bpfeb.o; do
	if ! cmp -s "$tmp/$f" "bpf/$f"; then
		echo "check-generated: bpf/$f differs from what msnaudit.c generates: run 'go generate ./bpf' and commit" >&2
		status=1
	fi
done
exit $status
