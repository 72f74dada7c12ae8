#!/usr/bin/env bash
# The whole gomip6 test suite: vet, unit tests and, as root, the namespace
# tier (real daemons in network namespaces). This is the README's test
# command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== go vet"
go vet ./...
if [ -n "$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" ]; then
	echo "gofmt: these files need formatting:" >&2
	gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') >&2
	exit 1
fi

# One go test run covers both tiers: tests that need root and network
# namespaces run when we are root and skip cleanly when we are not.
if [ "$(id -u)" -ne 0 ]; then
	echo "note: not root: the namespace tier is skipped (run as root for the whole suite)" >&2
fi
echo "== go test"
# -p 1: one package's tests at a time. The root tier's packages each build
# namespaces and run real daemons with handover timers of a second or so;
# run side by side on a 2-core machine they starve each other and measure
# the load instead of the code.
go test -p 1 -count=1 -timeout 30m ./... 2>&1 | tee /tmp/gomip6-test.$$.log
rc=${PIPESTATUS[0]}
pass=$(grep -c '^ok ' /tmp/gomip6-test.$$.log || true)
fail=$(grep -Ec '^FAIL[[:space:]]+[^[:space:]]' /tmp/gomip6-test.$$.log || true)
rm -f /tmp/gomip6-test.$$.log
echo "packages: $pass passed, $fail failed"
exit "$rc"
