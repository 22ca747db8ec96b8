#!/usr/bin/env bash
# The GPU-host checks of the pool/loss family (issue 4): build for the local card, its mocha tests on
# cpu, cuda-sim and cuda, bench/pool.ts on cuda at batch 8 and 32, compute-sanitizer memcheck and
# racecheck over the same tests. Logs under $OUT (or ./gpu-out). Through the offline bundle:
#   ../shared/gpu/bundle.sh; bash .gpu/run.sh 'bash bench/gpu-pool-check.sh'
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
t0=$(date +%s)
npx cmake-js compile --out build --parallel "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
M="node_modules/mocha/bin/mocha.js --no-config --node-option import=tsx --timeout 120000"
T="test/ops/pool.test.ts test/ops/cross_entropy.test.ts"
node $M $T > "$out/mocha.txt" 2>&1; echo "mocha rc=$?"
grep -E "passing|failing|pending|\[cuda\]$" "$out/mocha.txt"; grep -E "^\s+[0-9]+\) " -A6 "$out/mocha.txt" | head -40
for b in 8 32; do
  node --import tsx bench/pool.ts --device cuda --batch $b --reps 50 | tee "$out/bench-cuda-b$b.txt"
done
echo "t=$(( $(date +%s) - t0 )) s"
for tool in memcheck racecheck; do
  ADVPROP_TEST_BACKENDS=cpu,cuda timeout 100 compute-sanitizer --tool $tool --target-processes all --report-api-errors no --error-exitcode 9 --print-limit 20 \
    node --import tsx $M $T > "$out/sanitizer-$tool.txt" 2>&1
  echo "$tool rc=$?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passing|failing" "$out/sanitizer-$tool.txt" | tail -3
done
echo "total $(( $(date +%s) - t0 )) s"
