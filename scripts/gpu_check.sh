#!/usr/bin/env bash
# The GPU check: builds Kokkos with CUDA and motifbench against it and a CUDA
# LibTorch, then measures every mini-app on the GPU.
#
# Usage: scripts/gpu_check.sh [OUT_DIR]          (default: results/gpu-check)
#
# Needs an NVIDIA GPU, CUDA (nvcc), a CUDA LibTorch, CMake >= 3.20, Ninja,
# nlohmann-json and Google Benchmark. What such a machine often lacks comes
# from a kit folder (MOTIFBENCH_GPU_KIT, default .gpu-kit in the checkout):
#   kokkos-*.tar.gz + build-kokkos-cuda.sh   a Kokkos source and its CUDA build
#                                           script (skipped when KOKKOS_ROOT is set)
#   cli11/                                  CLI11's headers and CMake package
#                                           (Debian's libcli11-dev: include/CLI,
#                                           share/cmake/CLI11)
# gRPC, Redis, MPI and PAPI are used when present (MOTIFBENCH_WITH_*=AUTO); a
# build without gRPC runs tight and none only.
#
# Environment: TORCH_PREFIX (default: torch.utils.cmake_prefix_path of
# python3), KOKKOS_ARCH (default HOPPER90), KOKKOS_ROOT (an installed CUDA
# Kokkos), SIZES (default "small medium").
#
# Writes one result per run under OUT_DIR, the benchmarks' output, and
# summary.txt: for each run the steps per second, the tight/none ratio, the
# GPU energy per step (NVML, measured), the copies between memory spaces, and
# the device the models ran on. Exits non-zero when a run fails, when the
# device path copied tensor bytes, or when the build does not use the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$PWD"
out="$(realpath -m "${1:-results/gpu-check}")"
kit="$(realpath -m "${MOTIFBENCH_GPU_KIT:-.gpu-kit}")"
sizes="${SIZES:-small medium}"
jobs="$(nproc)"
mkdir -p "$out"
log() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  | sed 's/^/gpu_check: GPU /' | tee -a "$out/summary.txt" || log "nvidia-smi not found"

torch_prefix="${TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)}"
[ -n "$torch_prefix" ] || { log "no LibTorch: set TORCH_PREFIX to the folder that holds TorchConfig.cmake's prefix"; exit 2; }

kokkos_root="${KOKKOS_ROOT:-}"
if [ -z "$kokkos_root" ]; then
  kokkos_root="$src/build/gpu-kokkos"
  if [ ! -f "$kokkos_root/lib/cmake/Kokkos/KokkosConfig.cmake" ] && [ ! -f "$kokkos_root/lib64/cmake/Kokkos/KokkosConfig.cmake" ]; then
    [ -x "$kit/build-kokkos-cuda.sh" ] || { log "no Kokkos: set KOKKOS_ROOT or put build-kokkos-cuda.sh and its tarball in $kit"; exit 2; }
    log "building Kokkos (CUDA + OpenMP, ${KOKKOS_ARCH:-HOPPER90}) into $kokkos_root"
    "$kit/build-kokkos-cuda.sh" "$kokkos_root" "${KOKKOS_ARCH:-HOPPER90}" | tee -a "$out/summary.txt"
  fi
fi

prefix_path="$torch_prefix"
[ -d "$kit/cli11" ] && prefix_path="$prefix_path;$kit/cli11"
build="$src/build/gpu"
log "configuring $build (Kokkos $kokkos_root, LibTorch $torch_prefix)"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
  -DKokkos_ROOT="$kokkos_root" -DCMAKE_PREFIX_PATH="$prefix_path" -DMOTIFBENCH_BUILD_TESTS=OFF \
  -DMOTIFBENCH_BUILD_BENCHMARKS=ON >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
grep "motifbench:" "$out/configure.log" | tee -a "$out/summary.txt"
cmake --build "$build" -j "$jobs" --target motifbench motifbench_bench_kernels motifbench_bench_tight_device \
  >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
exe="$build/motifbench"
"$exe" --version | tee -a "$out/summary.txt"

failed=0
couplings="tight none"
"$exe" --version | grep -Eq "^  grpc +yes" && couplings="$couplings semi-tight"
for size in $sizes; do
  for motif in adaptive_training digital_replica distributed_models dynamic_orchestration inverse_design \
               multistage_pipeline; do
    for c in $couplings; do
      [ "$c" = semi-tight ] && [ "$motif" != digital_replica ] && continue
      f="$out/${motif}_${c}_${size}.json"
      if ! "$exe" --motif="$motif" --coupling="$c" --size="$size" --repetitions=3 --set coupling.device=cuda \
           --set energy.gpu_source=nvml --out="$f" >"$out/${motif}_${c}_${size}.log" 2>&1; then
        log "FAILED: $motif $c $size (see ${motif}_${c}_${size}.log)"
        failed=1
      fi
    done
  done
done

"$build/surrogates/motifbench_bench_tight_device" --benchmark_counters_tabular=true \
  | tee "$out/bench_tight_device.txt" || failed=1
"$build/bench/motifbench_bench_kernels" --benchmark_counters_tabular=true | tee "$out/bench_kernels.txt" || failed=1

python3 - "$out" <<'EOF' | tee -a "$out/summary.txt" || failed=1
import glob, json, os, sys
out = sys.argv[1]
bad = 0
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    d = json.load(open(f))
    m, c, s = d["run"]["motif"], d["run"]["coupling"], d["run"]["size"]
    reps = d["repetitions"]
    rates = sorted(r["iterations_per_s"] for r in reps)
    sps = rates[len(rates) // 2] if rates else None
    gpu = d["summary"]["energy"]["gpu"]
    # GPU energy per step, measured (NVML), median over the repetitions.
    per_step = sorted(r["gpu_energy"]["energy_j"] / r["iterations_count"] for r in reps
                      if r["gpu_energy"].get("method") == "measured" and r["iterations_count"])
    j_step = per_step[len(per_step) // 2] if per_step else None
    rep = reps[0]
    copied = rep["motif_metrics"]["scalars"].get("surrogate_bytes_copied_bytes")
    phases = rep["phases"]
    explicit = sum(phases[p]["work"]["bytes"] for p in ("copy_to_model", "copy_from_model") if p in phases)
    ctx = d["context"]
    rows[(m, s, c)] = sps
    print(f"{m:22s} {c:10s} {s:7s} valid={d['valid']} steps/s={sps} gpu_J/step={j_step} "
          f"device={ctx['torch'].get('model_device')} kokkos={ctx['kokkos'].get('memory_space')} "
          f"gpu_energy={gpu.get('method')} explicit_copy_bytes={explicit:.0f} surrogate_bytes_copied={copied}")
    if not d["valid"]:
        bad = 1
    if c == "tight" and copied not in (None, 0, 0.0) and ctx["kokkos"].get("memory_space") != "Host":
        print(f"  device path copied {copied} bytes")
        bad = 1
    if c != "none" and ctx["torch"].get("model_device", "cpu") == "cpu":
        print("  the models did not run on the GPU")
        bad = 1
for (m, s, c), v in sorted(rows.items()):
    if c == "tight" and v and rows.get((m, s, "none")):
        print(f"{m:22s} {s:7s} tight/none steps per second: {v / rows[(m, s, 'none')]:.2f}")
sys.exit(bad)
EOF
[ "$failed" = 0 ] && log "done: every run valid" || log "done with failures"
exit "$failed"
