// grad()'s onGradReady (lib/autograd/engine.ts): each input reported once, as soon as its gradient
// is final and while the backward still runs, with the values grad() returns. Data parallel
// starts its gradient all-reduces from it (lib/train/grad_buckets.ts).
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { forEachBackend } from '../lib/testing/backends.js';

const arr = (t: ap.Tensor): number[] => Array.from(t.toArray());

interface Report { index: number; values: number[]; remaining: number }

forEachBackend('autograd: onGradReady', (device) => {
  it('reports each leaf once, before the backward ends, with the values grad() returns', () => {
    // A chain w0 -> w1 -> w2: the backward reaches w2's use first and w0's last, and w1 feeds
    // two nodes, so it is final only after both ran.
    const w = [0, 1, 2].map((i) => ap.tensor([1 + i, -2 + i, 0.5 * i], [3], { device }));
    const x = ap.tensor([0.3, -0.7, 1.1], [3], { device });
    const f = (): ap.Tensor => {
      const a = x.mul(w[0]!).sigmoid();
      const b = a.mul(w[1]!).add(w[1]!.square()).silu();
      return b.mul(w[2]!).sum();
    };
    const plain = ap.grad(f, w);
    const reports: Report[] = [];
    const hooked = ap.grad(f, w, {
      onGradReady: (index, g, remaining) => reports.push({ index, values: arr(g), remaining }),
    });
    assert.deepEqual(reports.map((r) => r.index), [2, 1, 0], 'the backward finishes the last layer first');
    assert.ok(reports[0]!.remaining > 0 && reports[1]!.remaining > 0, `reported while nodes remained: ${reports.map((r) => r.remaining)}`);
    for (const r of reports) assert.deepEqual(r.values, arr(plain[r.index]!), `input ${r.index}`);
    hooked.forEach((g, i) => assert.deepEqual(arr(g), arr(plain[i]!), `grads[${i}]`));
    ap.dispose([...w, x, ...plain, ...hooked]);
  });

  it('reports a leaf only after its last consumer ran', () => {
    const w = ap.tensor([2, 3], [2], { device });
    const v = ap.tensor([1, 1], [2], { device });
    const x = ap.tensor([5, 7], [2], { device });
    // w feeds the first and the last node of the backward: it is final at the very end.
    const f = (): ap.Tensor => x.mul(w).mul(v).sigmoid().mul(w).sum();
    const order: number[] = [];
    let wRemaining = -1;
    const g = ap.grad(f, [w, v], { onGradReady: (i, _g, remaining) => { order.push(i); if (i === 0) wRemaining = remaining; } });
    const plain = ap.grad(f, [w, v]);
    assert.deepEqual(order, [1, 0]);
    assert.equal(wRemaining, 0);
    g.forEach((t, i) => assert.deepEqual(arr(t), arr(plain[i]!)));
    ap.dispose([w, v, x, ...g, ...plain]);
  });

  it('an input given twice and an unused one are each reported once', () => {
    const w = ap.tensor([1, 2], [2], { device });
    const u = ap.tensor([3, 4], [2], { device });
    const seen: number[] = [];
    const hook = (i: number): void => { seen.push(i); };
    const g1 = ap.grad(() => w.square().sum(), [w, w, u], { allowUnused: true, onGradReady: hook });
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
    assert.deepEqual(seen.slice(-1), [2], 'the unused input is reported after the backward');
    assert.deepEqual(arr(g1[2]!), [0, 0]);
    ap.dispose([w, u, ...g1]);
  });

  it('onGradReady must be a function', () => {
    const w = ap.tensor([1], [1], { device });
    assert.throws(() => ap.grad(() => w.sum(), [w], { onGradReady: 3 as unknown as () => void }), { code: 'ERR_ARG', message: /onGradReady/ });
    w.dispose();
  });
});
