#!/usr/bin/env bash
# GEMM throughput per EfficientNet-B0 GEMM shape (bench/gemm/gemm_bench.cc), with PyTorch's
# matmul on the same shapes in the same run when the device is cuda and python3 has torch with
# CUDA (bench/torch/gemm.py). Arguments go to the bench, e.g.
#   bash bench/gemm/run.sh --device cuda --batch 256 --modes bf16,tf32,fp32
#   ADVPROP_CUDA_ARCHS=90 bash bench/gemm/run.sh            (an H100: build for sm_90)
#   bash bench/gemm/run.sh --device cuda-sim                 (checks that it runs; no timing value)
# Builds into $ADVPROP_BENCH_BUILD (default build-bench; CUDA when nvcc is found), configured with
# the native tests on, so an existing build folder such as the addon's `build` is reused rather
# than rebuilt. Output: the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
dir=${ADVPROP_BENCH_BUILD:-build-bench}
mkdir -p "$dir"
log=$dir/bench-build.log
cmake -S . -B "$dir" -DADVPROP_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release > "$log" 2>&1 || { tail -20 "$log"; exit 1; }
cmake --build "$dir" --target advprop_gemm_bench -j"${JOBS:-$(nproc)}" >> "$log" 2>&1 || { tail -20 "$log"; exit 1; }
bin=$dir/advprop_gemm_bench

device=cuda modes=bf16,tf32,fp32 reps=20
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --device) device=${args[i+1]} ;;
    --modes) modes=${args[i+1]} ;;
    --reps) reps=${args[i+1]} ;;
  esac
done

torch_args=()
if [[ $device == cuda || $device == cuda:* ]]; then
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2> /dev/null; then
    tmp=$(mktemp -d)
    "$bin" "$@" --list > "$tmp/shapes.csv"
    python3 bench/torch/gemm.py --modes "$modes" --reps "$reps" < "$tmp/shapes.csv" > "$tmp/torch.csv"
    torch_args=(--torch "$tmp/torch.csv")
  else
    echo "(no PyTorch peer: python3 has no torch with CUDA)"
  fi
fi
"$bin" "$@" ${torch_args[@]+"${torch_args[@]}"}
