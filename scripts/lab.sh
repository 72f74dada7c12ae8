#!/usr/bin/env bash
# The README's main command: build gomip6 and run mip6lab, the whole system
# in network namespaces (needs root). Extra arguments go to mip6lab
# (--json, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
mkdir -p bin
go build -o bin/ ./cmd/...
exec ./bin/mip6lab "$@"
