#!/usr/bin/env bash
# The checks only a GPU host can run, in one go, writing logs under $OUT (or ./gpu-out):
# build with CUDA for the local card, the whole mocha suite (cuda included), compute-sanitizer
# memcheck and racecheck over the cpu-vs-cuda comparison tests, and the elementwise benchmark on
# cuda. Run through the offline bundle: bash .gpu/run.sh 'bash bench/gpu-check.sh'
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv | tee "$out/gpu.txt"

echo "== build (archs ${ADVPROP_CUDA_ARCHS:-default})"
t0=$(date +%s)
npx cmake-js compile --out build --parallel "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
node --import tsx lib/cli/main.ts info | tee "$out/info.txt"

echo "== mocha, every backend"
npx mocha > "$out/mocha.txt" 2>&1; echo "mocha rc=$?"
grep -E "passing|failing|pending" "$out/mocha.txt"
grep -E "^\s+[0-9]+\) " "$out/mocha.txt" | head -20

echo "== elementwise benchmark on cuda"
node --import tsx bench/elementwise.ts --device cuda --n 67108864 --reps 30 | tee "$out/bench-cuda.txt"
echo "== optimizer benchmark on cuda"
node --import tsx bench/optim.ts --device cuda --reps 50 | tee "$out/bench-optim-cuda.txt"
echo "== multi-domain batch norm benchmark on cuda"
node --import tsx bench/batchnorm.ts --device cuda --n 64 --reps 20 | tee "$out/bench-bn-cuda.txt"

mocha_js=node_modules/mocha/bin/mocha.js
for tool in memcheck racecheck; do
  echo "== compute-sanitizer $tool"
  timeout 150 compute-sanitizer --tool "$tool" --target-processes all --report-api-errors no --error-exitcode 9 --print-limit 20 \
    node --import tsx "$mocha_js" test/backends.test.ts test/ops/reduce.test.ts test/ops/conv2d.test.ts test/ops/linear.test.ts test/ops/multi_batch_norm.test.ts > "$out/sanitizer-$tool.txt" 2>&1
  echo "$tool rc=$?"
  grep -E "ERROR SUMMARY|passing|failing" "$out/sanitizer-$tool.txt" | tail -3
done
