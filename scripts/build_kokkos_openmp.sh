#!/usr/bin/env bash
# Builds Kokkos with the OpenMP backend (and Serial) from Debian's own source
# (the trilinos source package, whose packages/kokkos is the Kokkos of
# libtrilinos-kokkos-dev), installs it under a prefix, and prints the cmake
# line that builds motifbench against it. Optional: Debian's Serial Kokkos
# stays the default, and CI does not use this.
#
# Usage: scripts/build_kokkos_openmp.sh [PREFIX]     (default: build/kokkos-openmp)
# Then:  cmake --preset default -DKokkos_ROOT=PREFIX && cmake --build --preset default
#        (or: scripts/build.sh default after configuring once with -DKokkos_ROOT)
# Needs: network access to deb.debian.org (apt source lists in a private folder;
# the system's apt configuration is not touched), about 400 MB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$(realpath -m "${1:-build/kokkos-openmp}")"
work="$(realpath -m build/kokkos-openmp-src)"
mkdir -p "$work/apt/lists/partial"
printf 'deb-src http://deb.debian.org/debian bookworm main\n' > "$work/apt/sources.list"
apt_opts=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists="$work/apt/lists")
# The Kokkos of the installed package is the version to build.
version="$(dpkg-query -W -f='${Version}' libtrilinos-kokkos-dev 2>/dev/null || true)"
[ -n "$version" ] || { echo "build_kokkos_openmp: libtrilinos-kokkos-dev is not installed (run scripts/setup.sh)" >&2; exit 2; }
upstream="${version%%-*}"
tarball="$work/trilinos_${upstream}.orig.tar.gz"
if [ ! -s "$tarball" ]; then
  apt-get "${apt_opts[@]}" update >/dev/null
  # apt fetches (and checks) the source package; only the upstream tarball's
  # packages/kokkos is used.
  echo "downloading the trilinos $version source package (about 170 MB)"
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "trilinos=$version" >/dev/null)
  [ -s "$tarball" ] || { echo "build_kokkos_openmp: no source tarball for trilinos $version" >&2; exit 2; }
fi
src="$work/kokkos"
if [ ! -f "$src/CMakeLists.txt" ]; then
  rm -rf "$work/extract" && mkdir -p "$work/extract"
  tar -xzf "$tarball" -C "$work/extract" --wildcards '*/packages/kokkos/*'
  rm -rf "$src" && mv "$work/extract"/*/packages/kokkos "$src"
fi
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF -DBUILD_SHARED_LIBS=ON \
  -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF >/dev/null
cmake --build "$work/build" -j "$(nproc)"
cmake --install "$work/build" >/dev/null
echo "Kokkos (OpenMP + Serial) installed in $prefix"
echo "build motifbench against it: cmake --preset default -DKokkos_ROOT=$prefix && cmake --build --preset default"
echo "then --threads=N sets the OpenMP threads of the Kokkos kernels too (the result's context.kokkos says OpenMP)"
