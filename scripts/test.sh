#!/usr/bin/env bash
# Sets everything up, builds, and runs every test (unit, integration, tokenizer references,
# bounded fuzzing). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for d in tests/tokenizer tests/template tests/server tests/dashboard; do
  if [[ -f $d/package.json ]]; then
    (cd "$d" && npm ci --no-audit --no-fund --silent)
  fi
done
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
