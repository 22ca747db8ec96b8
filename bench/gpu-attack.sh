#!/usr/bin/env bash
# The GPU checks of the attack/dropout family in one go, logs under $OUT (or ./gpu-out): build for
# the local card, the attack and dropout suites on every backend (cuda included), the bandwidth
# benchmark on cuda, compute-sanitizer memcheck and racecheck over the same suites.
# Run through the offline bundle: bash .gpu/run.sh 'bash bench/gpu-attack.sh'
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
t0=$(date +%s)
npx cmake-js compile --out build --parallel "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
suites="test/ops/attack.test.ts test/ops/dropout.test.ts"
npx mocha --no-config --node-option import=tsx --timeout 120000 $suites > "$out/mocha.txt" 2>&1; echo "mocha rc=$?"
grep -E "passing|failing|pending" "$out/mocha.txt"; grep -E "^\s+[0-9]+\) " -A14 "$out/mocha.txt" | head -80
node --import tsx bench/attack.ts --device cuda --shape 128,224,224,3 --reps 30 2>&1 | tee "$out/bench-cuda.txt"
for tool in memcheck racecheck; do
  ADVPROP_TEST_BACKENDS=cpu,cuda timeout 120 compute-sanitizer --tool "$tool" --report-api-errors no --error-exitcode 9 --print-limit 20 \
    node --import tsx node_modules/mocha/bin/mocha.js --no-config --timeout 120000 $suites > "$out/$tool.txt" 2>&1
  echo "$tool rc=$?"; grep -E "ERROR SUMMARY|passing|failing" "$out/$tool.txt" | tail -3
done
