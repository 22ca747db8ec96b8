// The op table (test/op_table/): every exported op and raw kernel on awkward sizes, the cpu
// against an independent f64 reference (f32 by tolerance class, f64 tightly), every other
// available backend against the cpu, and an f64 central-difference gradient check of every
// differentiable entry; in bf16 and f16 the same for entries that declare `half`, and ERR_DTYPE
// from every call of the others (test/op_table/table.ts, its header). The first block fails when
// an export of lib/index.ts has no entry.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { backendStatus } from '../lib/testing/backends.js';
import { assertGradcheck } from '../lib/testing/gradcheck.js';
import { assertClose, assertSame, expectCode } from './helpers.js';
import { roundHalfArray } from './half_ref.js';
import { EXEMPTIONS } from './op_table/exemptions.js';
import { TABLE } from './op_table/index.js';
import {
  bounds, describeTols, HALF_DTYPES, halfBounds, halfTolOf, referenceInputs, runOn, tolOf, upload,
  type AnyEntry, type Case, type HalfDType, type HostOut, type RunDType, type Tol,
} from './op_table/table.js';

// `export * as kernels` is a module namespace object under plain ESM but an ordinary object once a
// loader transpiles the import, so any non-array object export counts as a namespace.
const isNamespace = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** 'add', 'kernels.conv2d', ...: every function reachable from `import * as ap` one namespace deep. */
function exportedFunctions(): string[] {
  const out: string[] = [];
  for (const [name, v] of Object.entries(ap)) {
    if (typeof v === 'function') out.push(name);
    else if (isNamespace(v)) for (const [k, f] of Object.entries(v)) if (typeof f === 'function') out.push(`${name}.${k}`);
  }
  return out;
}

function isExempt(path: string): boolean {
  return EXEMPTIONS.some((e) => e.names.some((n) => n === path || (n.endsWith('.*') && path.startsWith(n.slice(0, -1)))));
}

function exportAt(path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], ap);
}

const taped = (path: string): boolean => !path.startsWith('kernels.');

const isHalf = (d: string): d is HalfDType => d === 'bf16' || d === 'f16';

/** bound(output dtype): the bound for an output of that dtype (16-bit runs bound each output by its own dtype). */
function checkOutputs(got: (HostOut | null)[], want: (HostOut | null)[], bound: number | ((d: ap.DType) => number), label: string): void {
  assert.equal(got.length, want.length, `${label}: ${got.length} outputs vs ${want.length}`);
  want.forEach((w, i) => {
    const g = got[i];
    assert.equal(g === null, w === null, `${label} output ${i}: ${g === null ? 'missing' : 'unexpected'}`);
    if (!g || !w) return;
    assert.deepEqual(g.shape, w.shape, `${label} output ${i}: shape`);
    assert.equal(g.dtype, w.dtype, `${label} output ${i}: dtype`);
    assert.equal(g.values.constructor, w.values.constructor, `${label} output ${i}: dtype`);
    const b = typeof bound === 'number' ? bound : bound(w.dtype);
    if (b === 0) assertSame(g.values, w.values, `${label} output ${i}`);
    else assertClose(g.values, w.values, b, `${label} output ${i}`);
  });
}

/**
 * The cpu against the f64 reference on the inputs as the kernel sees them. A 16-bit run (an entry
 * declaring `half`) computes in f32, so its parameters are rounded as an f32 kernel rounds them,
 * and each output is held to halfBounds for its own dtype.
 */
function checkReference(e: AnyEntry, c: Case<unknown>, path: string, dtype: RunDType): void {
  const got = runOn(e.ops[path], c, dtype, 'cpu');
  const half = isHalf(dtype);
  const ref = e.reference(referenceInputs(c, dtype), c, half ? 'f32' : dtype, dtype);
  const b = bounds(tolOf(e, c));
  const boundFor = (out: ap.DType): number =>
    half ? halfBounds(halfTolOf(e, c)!, dtype, isHalf(out)).reference : dtype === 'f32' ? b.reference : b.f64;
  const label = `${path} ${dtype} ${c.label}`;
  assert.equal(got.length, ref.length, `${label}: ${got.length} outputs vs ${ref.length} in the reference`);
  ref.forEach((r, i) => {
    const g = got[i];
    assert.equal(g === null, r === null, `${label} output ${i}: ${g === null ? 'missing' : 'not in the reference'}`);
    if (!g || !r) return;
    const bound = boundFor(g.dtype);
    // The reference in the output's own type, so 'exact' means bitwise after one rounding; a
    // bounded 16-bit output is compared with the unrounded reference (the bound has the rounding).
    const want = g.values instanceof Int32Array ? Int32Array.from(r) : isHalf(g.dtype) ? Float32Array.from(roundHalfArray(r, g.dtype))
      : g.values instanceof Float32Array ? Float32Array.from(r) : r;
    if (bound === 0) assertSame(g.values, want, `${label} output ${i}`);
    else assertClose(g.values, isHalf(g.dtype) ? r : want, bound, `${label} output ${i}`);
  });
}

/** A case with a float input, or a creation case (no inputs: the op makes its tensor in the run's dtype). */
const hasFloatInput = (c: Case<unknown>): boolean => c.inputs.length === 0 || c.inputs.some((i) => !(i.data instanceof Int32Array));

/** Every call of an entry without `half`, given bf16/f16 float inputs, throws ERR_DTYPE naming the dtype. */
function checkRefusal(e: AnyEntry, device: string): void {
  let refused = 0;
  for (const c of e.cases.filter(hasFloatInput))
    for (const [path, run] of Object.entries(e.ops))
      for (const h of HALF_DTYPES) {
        ap.tidy(() => {
          const err = expectCode(() => run(c.inputs.map((i) => upload(i, h, device)), c, device, h), 'ERR_DTYPE');
          assert.ok(err.message.includes(h), `${path} ${h} ${c.label} on ${device}: the message does not name ${h}: ${err.message}`);
        });
        refused++;
      }
  assert.ok(refused > 0, `${e.name}: no case has a float input to refuse`);
}

describe('op table: coverage of lib/index.ts', () => {
  const exported = exportedFunctions();
  const covered = new Map<string, string>();
  for (const e of TABLE) for (const path of Object.keys(e.ops)) covered.set(path, e.name);

  it('every exported function has an entry or a reviewed exemption', () => {
    const missing = exported.filter((p) => !covered.has(p) && !isExempt(p));
    assert.deepEqual(missing, [], `exports with no op-table entry (add one in test/op_table/ or an exemption): ${missing.join(', ')}`);
  });

  it('every exemption names an export, and nothing is both an entry and exempt', () => {
    for (const ex of EXEMPTIONS)
      for (const n of ex.names) {
        const ok = n.endsWith('.*') ? isNamespace(exportAt(n.slice(0, -2))) : typeof exportAt(n) === 'function';
        assert.ok(ok, `exemption '${n}' names no exported function or namespace`);
      }
    const both = [...covered.keys()].filter(isExempt);
    assert.deepEqual(both, [], `both an entry and exempt: ${both.join(', ')}`);
  });

  it('each entry is well formed and each call is of the export it is filed under', () => {
    const names = new Set<string>();
    for (const e of TABLE) {
      assert.ok(!names.has(e.name), `entry name '${e.name}' used twice`);
      names.add(e.name);
      assert.ok(e.cases.length > 0, `${e.name}: no cases`);
      if (e.grad) assert.ok(Object.keys(e.ops).some(taped), `${e.name}: differentiable, but every call is a raw kernel (no tape)`);
      for (const [path, run] of Object.entries(e.ops)) {
        assert.equal(typeof exportAt(path), 'function', `${e.name}: '${path}' is not an exported function`);
        // A copy-pasted call filed under the wrong name would cover an export it never runs. This
        // reads the call's source text, which tsx keeps (a minifier would make it fail, not pass).
        const call = new RegExp(`\\bap\\.${path.replace(/\./g, '\\.')}\\b(?!\\.)`);
        assert.match(String(run), call, `${e.name}: the call filed under '${path}' does not call ap.${path}`);
      }
    }
  });
});

describe('op table: cpu against the f64 reference', () => {
  for (const e of TABLE) {
    it(`${e.name} (${describeTols(e.cases.map((c) => tolOf(e, c)))})`, () => {
      for (const c of e.cases)
        for (const path of Object.keys(e.ops)) {
          checkReference(e, c, path, 'f32');
          if (!e.f32Only) checkReference(e, c, path, 'f64');
        }
    });
  }
});

describe('op table: bf16 and f16 on cpu against the f64 reference, or refused with ERR_DTYPE', () => {
  for (const e of TABLE) {
    const declared = e.cases.map((c) => halfTolOf(e, c));
    if (declared.every((t) => t !== undefined)) {
      it(`${e.name} (bf16, f16: ${describeTols(declared as Tol[])} + one 16-bit rounding)`, () => {
        for (const c of e.cases)
          for (const path of Object.keys(e.ops))
            for (const h of HALF_DTYPES) checkReference(e, c, path, h);
      });
    } else {
      it(`${e.name}: refuses bf16 and f16 with ERR_DTYPE`, () => {
        assert.ok(declared.every((t) => t === undefined), `${e.name}: 'half' must hold for every case or none`);
        checkRefusal(e, 'cpu');
      });
    }
  }
});

for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
  describe(`op table: ${b.backend} against cpu`, () => {
    if (!b.available) {
      it.skip(`${b.backend}: skipped (${b.reason})`);
      return;
    }
    for (const e of TABLE) {
      it(e.name, () => {
        for (const c of e.cases) {
          const bound = bounds(tolOf(e, c)).backend;
          for (const [path, run] of Object.entries(e.ops))
            checkOutputs(runOn(run, c, 'f32', b.device!), runOn(run, c, 'f32', 'cpu'), bound, `${path} ${c.label}`);
        }
      });
      if (e.half === undefined) {
        it(`${e.name}: refuses bf16 and f16 with ERR_DTYPE`, () => checkRefusal(e, b.device!));
        continue;
      }
      it(`${e.name} in bf16 and f16`, () => {
        for (const c of e.cases) {
          const tol = halfTolOf(e, c)!;
          for (const [path, run] of Object.entries(e.ops))
            for (const h of HALF_DTYPES)
              checkOutputs(runOn(run, c, h, b.device!), runOn(run, c, h, 'cpu'), (d) => halfBounds(tol, h, isHalf(d)).backend, `${path} ${h} ${c.label}`);
        }
      });
    }
  });
}

// The loss sums every output in f64, so its rounding (~1e-16 per term, growing with the output
// count) divided by 2·eps is the noise floor of the numeric gradient. With eps = 1e-5 and at most
// GRAD_MAX_OUTPUTS outputs that floor stays ~10x under the 1e-6 bound, and the truncation error
// (eps² f‴ / 6f′, ~1e-10 for these ops) far under it. Larger cases still run on every backend.
const GRAD_EPS = 1e-5;
const GRAD_MAX_OUTPUTS = 300;

describe('op table: f64 gradient checks (cpu)', () => {
  for (const e of TABLE) {
    const spec = e.grad;
    if (!spec) continue;
    it(e.name, () => {
      let checked = 0;
      for (const c of e.cases)
        for (const [path, run] of Object.entries(e.ops)) {
          if (!taped(path)) continue;
          ap.tidy(() => {
            const xs = c.inputs.map((i) => upload(i, 'f64', 'cpu'));
            const fn = (...ts: ap.Tensor[]): ap.Tensor => {
              const out = run(ts, c, 'cpu', 'f64');
              assert.ok(out instanceof ap.Tensor, `${path}: a differentiable op returns one tensor`);
              return out;
            };
            if (ap.noGrad(() => fn(...xs)).numel > GRAD_MAX_OUTPUTS) return;
            const wrt = spec.wrt ?? c.inputs.flatMap((i, k) => (i.data instanceof Int32Array ? [] : [k]));
            try {
              checked += assertGradcheck(fn, xs, { tol: 1e-6, wrt, eps: spec.eps ?? GRAD_EPS, samples: spec.samples }).checked;
            } catch (err) {
              throw new Error(`${path} ${c.label}: ${(err as Error).message}`);
            }
          });
        }
      assert.ok(checked > 0, `${e.name}: no case small enough (<= ${GRAD_MAX_OUTPUTS} outputs) to gradient-check`);
    });
  }
});
