#!/usr/bin/env bash
# Installs every Debian 12 package motifbench needs. Idempotent and
# non-interactive: packages already present are skipped by apt itself.
# The list is scripts/packages.txt.
# Usage: scripts/setup.sh            (needs root, or sudo)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t PACKAGES < <(grep -v -e '^#' -e '^[[:space:]]*$' "$here/packages.txt")

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
