// Draws keyed by the global sample index (issue 17, item 4): a rank holding its block of each
// segment of a global batch, with the sample map {segment, stride, base}, gets from dropout,
// drop-connect, dropConnectAdd and the PGD random start exactly the rows the whole global batch
// gets, on every backend; the map that names every sample as itself gives the unmapped bits; the
// trainer's withSampleMap reaches the model's modules and is restored; bad maps are ERR_ARG.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';

const RANKS = 3, B = 4, G = RANKS * B;

/** Rows [start, start + count) of an [N, ...] host array of rows of d elements. */
const rows = (a: Float64Array | Float32Array, d: number, start: number, count: number): number[] => Array.from(a.subarray(start * d, (start + count) * d));

/** Rank r's part of a global batch of `segs` segments: its block of each segment, in segment order. */
function localRows(a: Float64Array | Float32Array, d: number, segs: number, r: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < segs; s++) out.push(...rows(a, d, s * G + r * B, B));
  return out;
}

type Draw = (x: ap.Tensor, opts: { seed: number; offset: number; samples?: ap.SampleMap }) => ap.Tensor;

const DRAWS: Array<[string, number, Draw]> = [
  // name, segments of the global batch (AdvProp's clean and adversarial blocks: 2), the draw
  ['dropout (per element)', 2, (x, o) => ap.dropout(x, 0.4, o)],
  ['dropConnect (per sample)', 2, (x, o) => ap.dropConnect(x, 0.5, o)],
  ['dropConnectAdd', 2, (x, o) => ap.dropConnectAdd(x, ap.mulScalar(x, 0.5), 0.5, o)],
  ['pgdRandomStart linf', 1, (x, o) => ap.pgdRandomStart(x, { eps: 0.1, ...o })],
  ['pgdRandomStart l2', 1, (x, o) => ap.pgdRandomStart(x, { eps: 0.5, norm: 'l2', ...o })],
];

forEachBackend('sample maps: draws keyed by the global sample index', (device) => {
  for (const [name, segs, draw] of DRAWS) {
    for (const sample of [[3, 5, 2], [7]]) {
      it(`${name}, samples of ${JSON.stringify(sample)}: each rank's rows equal the global batch's`, () => {
        ap.tidy(() => {
          const d = numel(sample), n = segs * G;
          const host = f32(hostRandom(n * d, 11 + d, 0, 1));
          const key = { seed: 41, offset: 6 };
          const whole = draw(ap.tensor(host, [n, ...sample], { device, dtype: 'f32' }), key).toArray() as Float32Array;
          for (let r = 0; r < RANKS; r++) {
            const local = ap.tensor(localRows(host, d, segs, r), [segs * B, ...sample], { device, dtype: 'f32' });
            const got = draw(local, { ...key, samples: { segment: B, stride: G, base: r * B } }).toArray();
            assertSame(got, localRows(whole, d, segs, r), `rank ${r}`);
          }
          // Every sample named as itself: the mapped path gives the unmapped bits.
          const same = draw(ap.tensor(host, [n, ...sample], { device, dtype: 'f32' }), { ...key, samples: { segment: n, stride: n, base: 0 } }).toArray();
          assertSame(same, whole, 'identity map');
        });
      });
    }
  }

  it('the gradient of a mapped dropConnect draws the same mask', () => {
    ap.tidy(() => {
      const x = ap.tensor(hostRandom(2 * B * 6, 3), [2 * B, 6], { device });
      const samples = { segment: B, stride: G, base: B };
      const [g] = ap.grad(() => ap.sum(ap.dropConnect(x, 0.5, { seed: 9, offset: 1, samples })), [x]);
      const mask = ap.dropConnect(ap.onesLike(x), 0.5, { seed: 9, offset: 1, samples });
      assertSame(g!.toArray(), mask.toArray());
    });
  });
});

describe('sample maps: scope and checks', () => {
  it('withSampleMap reaches ops that give none, and is restored after', () => {
    ap.tidy(() => {
      const x = ap.tensor(hostRandom(2 * B * 5, 4), [2 * B, 5], { device: 'cpu' });
      const samples = { segment: B, stride: G, base: 2 * B };
      const inside = ap.withSampleMap(samples, () => ap.dropConnect(x, 0.5, { seed: 2 })).toArray();
      assertSame(inside, ap.dropConnect(x, 0.5, { seed: 2, samples }).toArray());
      assertSame(ap.dropConnect(x, 0.5, { seed: 2 }).toArray(), ap.dropConnect(x, 0.5, { seed: 2, samples: undefined }).toArray());
      assert.throws(() => ap.withSampleMap(samples, () => { throw new Error('inner'); }), /inner/);
      // Restored after a throw: no map, so sample s draws index s.
      const after = ap.dropConnect(x, 0.5, { seed: 2 }).toArray();
      const plain = ap.kernels.dropConnectMask(x, 0.5, 2, 0).toArray();
      assertSame(after, plain);
    });
  });

  it('bad maps are ERR_ARG naming the op', () => {
    const x = ap.tensor([1, 2, 3, 4], [2, 2], { device: 'cpu' });
    expectCode(() => ap.dropout(x, 0.5, { seed: 1, samples: { segment: 0, stride: 4, base: 0 } }), 'ERR_ARG', /dropout: samples/);
    expectCode(() => ap.dropConnect(x, 0.5, { seed: 1, samples: { segment: 2, stride: 3, base: 2 } }), 'ERR_ARG', /base \+ segment <= stride/);
    expectCode(() => ap.pgdRandomStart(x, { eps: 1, seed: 1, samples: { segment: -1, stride: 3, base: 0 } }), 'ERR_ARG', /samples\.segment/);
    expectCode(() => ap.withSampleMap({ segment: 2, stride: 1.5, base: 0 }, () => 0), 'ERR_ARG', /samples\.stride/);
    expectCode(() => ap.kernels.dropConnectAdd(x, x, 0.5, 1, 0, { segment: 3, stride: 2, base: 0 }), 'ERR_ARG', /dropConnectAdd/);
    ap.dispose(x);
  });
});
