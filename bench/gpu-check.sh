#!/usr/bin/env bash
# Everything only a GPU shows, in one call that fits a lent machine (about 15 minutes in all, one
# command of at most 8): build for the local card, the training-step benchmark against PyTorch,
# the memory-bound kernels' bandwidth tables, the roofline beside the measured profile, the mocha
# suite on cuda, compute-sanitizer (memcheck, racecheck, synccheck), then the remaining step
# figures. The parts run in that order, most wanted first, under one deadline (GPU_CHECK_BUDGET
# seconds, default 460): a part starts only with time left and gets at most its own cap, so a cut
# run still has the first figures. Every figure is printed as soon as it is measured; logs go to
# $OUT (or ./gpu-out), and $OUT/summary.md collects the tables to copy into bench/RESULTS.md.
#   ../shared/gpu/bundle.sh, then on the GPU host: bash .gpu/run.sh 'bash bench/gpu-check.sh'
#   GPU_CHECK_PARTS=build,step,... picks parts (build step graph kernels roofline mocha sanitizer
#   more gemm); GPU_CHECK_SCALE multiplies every cap.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
parts=${GPU_CHECK_PARTS:-build,step,graph,kernels,roofline,mocha,sanitizer,more}
S=${GPU_CHECK_SCALE:-1}
budget=${GPU_CHECK_BUDGET:-460}
t0=$(date +%s)
summary="$out/summary.md"
want() { [[ ",$parts," == *",$1,"* ]]; }
left() { echo $(( budget - ($(date +%s) - t0) )); }
# cap SECONDS -> the time the next part may take, 0 when under 15 s are left.
cap() { local c=$(( $1 * S )) l; l=$(left); (( l < 15 )) && { echo 0; return; }; (( c > l - 5 )) && c=$(( l - 5 )); echo "$c"; }
stamp() { echo "== $1 (t=$(( $(date +%s) - t0 )) s, $(left) s left)"; }
skip() { echo "== skipped: $1 (no time left)"; echo "- skipped: $1 (no time left)" >> "$summary"; }
M="node_modules/mocha/bin/mocha.js --no-config --node-option import=tsx --timeout 300000"
KERNEL_SUITES="test/backends.test.ts test/ops/reduce.test.ts test/ops/conv2d.test.ts test/ops/multi_batch_norm.test.ts test/ops/attack.test.ts test/ops/dropout.test.ts test/ops/dropout_add.test.ts test/ops/pool.test.ts test/ops/squeeze_excite.test.ts test/ops/unary.test.ts test/ops/arithmetic.test.ts test/ops/cross_entropy.test.ts test/ops/optim.test.ts test/ops/normalize_image.test.ts test/train/upload.test.ts test/cuda_graph.test.ts test/ops/packs.test.ts test/train/cuda_graph_step.test.ts"

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
export ADVPROP_CUDA_ARCHS=${ADVPROP_CUDA_ARCHS:-${cc:-90}}
{
  echo "# GPU check $(date -u +%Y-%m-%dT%H:%MZ), $gpu, sm_$ADVPROP_CUDA_ARCHS, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "Command: \`bash .gpu/run.sh 'bash bench/gpu-check.sh'\` (parts $parts, budget $budget s)"
  echo
} > "$summary"

step() {  # step LIMIT LOG ARGS...: one bench/step.ts run on cuda, its table appended to the summary
  local lim=$1 log=$2; shift 2
  (( lim > 0 )) || { skip "step $*"; return; }
  echo "+ bench/step.ts $* (limit ${lim} s)"
  timeout "$lim" node --import tsx bench/step.ts --device cuda --case a --warmup 2 --steps 3 "$@" > >(tee -a "$out/$log") 2>&1
  echo "rc=$?"
  { echo; echo "\`bench/step.ts --device cuda --case a --warmup 2 --steps 3 $*\`:"; echo '```';
    grep -E "^(method|vanilla|advprop)|torch.compile|^  torch|^  ours|^case" "$out/$log" | tail -20; echo '```'; } >> "$summary"
}

if want build; then
  stamp "build for sm_$ADVPROP_CUDA_ARCHS"
  timeout $(cap 170) npx cmake-js compile --out build --parallel "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  node --import tsx lib/cli/main.ts info | tee "$out/info.txt"
  echo "- built in $(( $(date +%s) - t0 )) s" >> "$summary"
fi

if want step; then
  stamp "step: B0 224, batch 256, bf16, vanilla and AdvProp ε=1; ours (bytes through the pinned path) vs PyTorch eager AMP bf16 channels_last and torch.compile"
  step "$(cap 130)" step-bf16-256.txt --batch 256 --precision bf16 --methods vanilla,advprop1 --input u8 --compile-limit 60
fi

if want graph; then
  stamp "step with the whole step as one CUDA graph (--cuda-graph), batch 256 and 128, bf16"
  if grep -q "'cuda-graph'" bench/step.ts; then
    step "$(cap 50)" step-graph-256.txt --batch 256 --precision bf16 --methods vanilla,advprop1 --input u8 --cuda-graph --no-peer
  else
    echo "bench/step.ts has no --cuda-graph in this commit" | tee -a "$summary"
  fi
fi

if want kernels; then
  stamp "memory-bound kernels: GB/s against the copy bandwidth measured in the same run"
  c=$(cap 80)
  if (( c > 0 )); then
    k() { local name=$1; shift; echo "+ $*"; timeout $(( c / 7 + 5 )) "$@" 2>&1 | tee "$out/bench-$name.txt" | tail -14;
          { echo; echo "\`$*\`:"; echo '```'; tail -14 "$out/bench-$name.txt"; echo '```'; } >> "$summary"; }
    k elementwise node --import tsx bench/elementwise.ts --device cuda --n 67108864 --reps 30
    k bn node --import tsx bench/batchnorm.ts --device cuda --n 64 --reps 20
    k pool node --import tsx bench/pool.ts --device cuda --batch 32 --reps 50
    k se node --import tsx bench/pool.ts --device cuda --se --reps 20
    k dcadd node --import tsx bench/attack.ts --device cuda --residual --reps 30
    k attack node --import tsx bench/attack.ts --device cuda --shape 128,224,224,3 --reps 30
    k optim node --import tsx bench/optim.ts --device cuda --reps 50
  else skip kernels; fi
fi

if want roofline; then
  stamp "roofline of one AdvProp step on this card beside one profiled step"
  c=$(cap 60)
  if (( c > 0 )); then
    # The profiled step feeds an f32 tensor with EMA off (bench/step.ts), hence --input f32 --no-ema.
    timeout "$c" node --import tsx bench/step.ts --device cuda --case a --batch 256 --precision bf16 --methods advprop1 --warmup 1 --steps 1 --no-peer --profile-json "$out/profile.json" > "$out/profile.txt" 2>&1
    echo "profile rc=$?"
    card=h100; [[ "$gpu" == *H200* ]] && card=h200
    timeout 20 node --import tsx bench/step.ts --roofline "$card" --batch 256 --dtype bf16 --method advprop --input f32 --no-ema --measured "$out/profile.json" --markdown 2>&1 | tee "$out/roofline.md"
    { echo; echo "Roofline ($card) beside the profiled step:"; cat "$out/roofline.md"; } >> "$summary"
  else skip roofline; fi
fi

if want mocha; then
  stamp "mocha, whole suite, cuda backend (cpu and cuda-sim run in CI)"
  c=$(cap 120)
  if (( c > 0 )); then
    ADVPROP_TEST_BACKENDS=cuda timeout "$c" node $M 'test/**/*.test.ts' > "$out/mocha.txt" 2>&1; echo "mocha rc=$?"
    grep -E "passing|failing|pending" "$out/mocha.txt" | tee -a "$summary"
    grep -E "^\s+[0-9]+\) " -A8 "$out/mocha.txt" | head -60
  else skip mocha; fi
fi

if want sanitizer; then
  for tool in ${SANITIZER_TOOLS:-memcheck racecheck synccheck}; do
    stamp "compute-sanitizer $tool over the kernel suites"
    c=$(cap 45)
    (( c > 0 )) || { skip "sanitizer $tool"; continue; }
    ADVPROP_TEST_BACKENDS=cuda timeout "$c" compute-sanitizer --tool "$tool" --target-processes all --report-api-errors no \
      --error-exitcode 9 --print-limit 20 node --import tsx $M $KERNEL_SUITES > "$out/sanitizer-$tool.txt" 2>&1
    echo "$tool rc=$?" | tee -a "$summary"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passing|failing" "$out/sanitizer-$tool.txt" | tail -3 | tee -a "$summary"
  done
fi

if want more; then
  stamp "more step figures: fp32 and tf32 at batch 256 (with PyTorch eager in the same precision), bf16 at batch 128"
  step "$(cap 70)" step-fp32-256.txt --batch 256 --precision fp32 --methods vanilla,advprop1 --input u8 --compile-limit 0
  step "$(cap 60)" step-tf32-256.txt --batch 256 --precision tf32 --methods vanilla,advprop1 --input u8 --compile-limit 0 --no-peer
  step "$(cap 70)" step-bf16-128.txt --batch 128 --precision bf16 --methods vanilla,advprop1 --input u8 --compile-limit 40
fi

if want gemm; then
  stamp "GEMM: tensor-core native tests on the card, then TFLOP/s per B0 GEMM shape vs PyTorch"
  ADVPROP_BENCH_BUILD=build timeout $(cap 120) bash bench/gemm/run.sh --device cuda --reps 10 > "$out/bench-gemm.txt" 2>&1
  echo "gemm bench rc=$?"; tail -70 "$out/bench-gemm.txt"
fi
stamp "done"
echo "summary: $summary"
