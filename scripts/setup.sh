#!/usr/bin/env bash
# Installs what shoal needs to build and test (Debian/Ubuntu packages; npm for the tokenizer
# references), then configures and builds into build/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(g++ cmake ninja-build pkg-config libhwy-dev nlohmann-json3-dev libcli11-dev libpcre2-dev
      libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-dev libsodium-dev libssl-dev libxxhash-dev libopenmpi-dev
      openmpi-bin iproute2 curl python3 python3-jinja2 libcpp-httplib-dev chromium
      firefox-esr webkit2gtk-driver xvfb)
# Node.js and npm (for the tokenizer and chat-template references): any install will do (Debian's, or NodeSource's,
# whose nodejs package bundles npm and conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "shoal setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The dashboard's libraries (web/package-lock.json): the build bundles them into the binary.
if ! command -v npm >/dev/null 2>&1; then
  echo "shoal setup: npm is missing (the dashboard in web/ is bundled with it): install nodejs and npm" >&2
  exit 1
fi
(cd web && npm ci --no-audit --no-fund --silent)

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SHOAL_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
