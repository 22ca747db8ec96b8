#!/usr/bin/env bash
# Every check only a GPU host can run, in one go (a lent machine's time is short), logs under $OUT:
# build for the local card, the whole mocha suite with the cuda backend, compute-sanitizer
# memcheck and racecheck over the kernel suites, and the cuda benchmarks with the PyTorch peer;
# `gemm`: the tensor-core GEMM's native tests on the card and its throughput per B0 GEMM shape.
# Each part has its own time limit so one slow part cannot eat the others' time.
#   bash .gpu/run.sh 'bash bench/gpu-check.sh'            (GPU_CHECK_PARTS=build,mocha,... to pick)
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
parts=${GPU_CHECK_PARTS:-build,mocha,conv,gemm,sanitizer,kernels,step}
T=${GPU_CHECK_SCALE:-1}  # multiplies every part's time limit
t0=$(date +%s)
want() { [[ ",$parts," == *",$1,"* ]]; }
stamp() { echo "== $1 (t=$(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv | tee "$out/gpu.txt"
M="node_modules/mocha/bin/mocha.js --no-config --node-option import=tsx --timeout 300000"
KERNEL_SUITES="test/backends.test.ts test/ops/reduce.test.ts test/ops/conv2d.test.ts test/ops/multi_batch_norm.test.ts test/ops/attack.test.ts test/ops/dropout.test.ts test/ops/dropout_add.test.ts test/ops/pool.test.ts test/ops/squeeze_excite.test.ts test/ops/unary.test.ts test/ops/arithmetic.test.ts test/ops/cross_entropy.test.ts test/ops/optim.test.ts"

if want build; then
  stamp "build (archs ${ADVPROP_CUDA_ARCHS:-default})"
  timeout $((150*T)) npx cmake-js compile --out build --parallel "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  node --import tsx lib/cli/main.ts info | tee "$out/info.txt"
fi

if want mocha; then
  stamp "mocha, whole suite, cuda backend (cpu and cuda-sim run in CI)"
  ADVPROP_TEST_BACKENDS=cuda timeout $((150*T)) node $M 'test/**/*.test.ts' > "$out/mocha.txt" 2>&1; echo "mocha rc=$?"
  grep -E "passing|failing|pending" "$out/mocha.txt"
  grep -E "^\s+[0-9]+\) " -A8 "$out/mocha.txt" | head -60
fi

if want conv; then
  stamp "convolutions of B0 at 224, batch 8: ours on cuda vs PyTorch/cuDNN"
  timeout $((80*T)) node --import tsx bench/conv.ts --device cuda --rounds 1 > "$out/bench-conv-cuda.txt" 2>&1; echo "conv rc=$?"
  tail -25 "$out/bench-conv-cuda.txt"
fi

if want kernels; then
  stamp "memory-bound kernels on cuda"
  timeout $((20*T)) node --import tsx bench/elementwise.ts --device cuda --n 67108864 --reps 30 2>&1 | tee "$out/bench-elementwise.txt" | tail -12
  timeout $((20*T)) node --import tsx bench/batchnorm.ts --device cuda --n 64 --reps 20 2>&1 | tee "$out/bench-bn.txt" | tail -12
  timeout $((20*T)) node --import tsx bench/pool.ts --device cuda --batch 32 --reps 50 2>&1 | tee "$out/bench-pool.txt" | tail -10
  timeout $((20*T)) node --import tsx bench/pool.ts --device cuda --se --reps 20 2>&1 | tee "$out/bench-se.txt" | tail -12
  timeout $((20*T)) node --import tsx bench/attack.ts --device cuda --residual --reps 30 2>&1 | tee "$out/bench-dcadd.txt" | tail -10
  timeout $((20*T)) node --import tsx bench/attack.ts --device cuda --shape 128,224,224,3 --reps 30 2>&1 | tee "$out/bench-attack.txt" | tail -10
  timeout $((20*T)) node --import tsx bench/optim.ts --device cuda --reps 50 2>&1 | tee "$out/bench-optim.txt" | tail -10
fi

if want sanitizer; then
  for tool in ${SANITIZER_TOOLS:-memcheck racecheck}; do
    stamp "compute-sanitizer $tool over the kernel suites"
    ADVPROP_TEST_BACKENDS=cuda timeout $((60*T)) compute-sanitizer --tool "$tool" --target-processes all --report-api-errors no \
      --error-exitcode 9 --print-limit 20 node --import tsx $M $KERNEL_SUITES > "$out/sanitizer-$tool.txt" 2>&1
    echo "$tool rc=$?"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passing|failing" "$out/sanitizer-$tool.txt" | tail -3
  done
fi

if want gemm; then
  stamp "GEMM: native tensor-core tests on the card, then TFLOP/s per B0 GEMM shape (bf16, tf32, fp32) vs PyTorch"
  # The addon's build folder, configured with the native tests too: only the new targets compile.
  ADVPROP_BENCH_BUILD=build timeout $((120*T)) bash bench/gemm/run.sh --device cuda --reps 10 > "$out/bench-gemm.txt" 2>&1
  echo "gemm bench rc=$?"
  tail -70 "$out/bench-gemm.txt"
  cmake --build build --target advprop_native_tests -j"$(nproc)" > "$out/native-build.log" 2>&1 &&
    timeout $((60*T)) ./build/advprop_native_tests gemm_tc > "$out/native-gemm-tc.txt" 2>&1; echo "native gemm_tc rc=$?"
  grep -E "FAIL|skipped|native:" "$out/native-gemm-tc.txt" | head -20
fi

if want step; then
  stamp "training step, B0 at 224, batch 256, on cuda vs PyTorch (bench/gpu-step.sh runs the fuller set)"
  timeout $((150*T)) node --import tsx bench/step.ts --device cuda --case a --batch 256 --methods vanilla,advprop1 --warmup 2 --steps 4 \
    --compile-limit 0 > "$out/bench-step.txt" 2>&1; echo "step rc=$?"
  tail -40 "$out/bench-step.txt"
fi
stamp "done"
