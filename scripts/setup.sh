#!/usr/bin/env bash
# Installs every Debian 12 package motifbench needs. Idempotent and
# non-interactive: packages already present are skipped by apt itself.
# Usage: scripts/setup.sh            (needs root, or sudo)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache git pkg-config
  libtrilinos-kokkos-dev
  libtorch-dev libopenblas0
  libmpich-dev mpich
  libpapi-dev
  libbenchmark-dev
  nlohmann-json3-dev
  libcli11-dev
  libhiredis-dev redis-server redis-tools
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  python3 python3-jsonschema python3-matplotlib procps
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
