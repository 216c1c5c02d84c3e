#!/usr/bin/env bash
# Runs every go test -fuzz target of the project for a given time each.
#   testdata/fuzz.sh [TIME]      TIME per target, as go test -fuzztime takes it (default 10m)
# CI runs it with a few seconds per target. Crashers land in the package's
# testdata/fuzz/<Target>/ directory: commit them, they become regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10m}
status=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($fuzztime)"
		if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" 2>&1 | tail -n 4; then
			status=1
		fi
	done
done
exit $status
