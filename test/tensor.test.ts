import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { forEachBackend, backendStatus } from '../lib/testing/backends.js';
import { assertSame, expectCode, expectCodeAsync, shapeOf, values } from './helpers.js';

describe('devices', () => {
  it('lists cpu as available and every backend with a reason when it is not', () => {
    const all = ap.devices();
    const cpu = all.find((d) => d.device === 'cpu');
    assert.ok(cpu?.available, 'cpu must always be available');
    for (const d of all) if (!d.available) assert.ok(d.reason.length > 0, `${d.device} unavailable without a reason`);
    for (const b of backendStatus()) if (!b.available) assert.ok(b.reason.length > 0);
  });

  it('defaultDevice is cuda when available, else cpu; setDefaultDevice overrides and validates', () => {
    const hasCuda = ap.devices().some((d) => d.type === 'cuda' && d.available);
    const before = ap.defaultDevice();
    if (!process.env.ADVPROP_DEVICE) assert.equal(before, hasCuda ? 'cuda:0' : 'cpu');
    try {
      ap.setDefaultDevice('cpu');
      assert.equal(ap.defaultDevice(), 'cpu');
      const t = ap.zeros([2]);
      assert.equal(t.device, 'cpu');
      t.dispose();
      expectCode(() => ap.setDefaultDevice('tpu'), 'ERR_DEVICE');
      expectCode(() => ap.setDefaultDevice(42 as unknown as string), 'ERR_DEVICE');
    } finally {
      ap.setDefaultDevice(null);
    }
    assert.equal(ap.defaultDevice(), before);
  });

  it('refuses an unavailable device with its reason', function () {
    const missing = backendStatus().find((b) => !b.available && !b.reason.startsWith('excluded'));
    if (!missing) this.skip();
    expectCode(() => ap.zeros([2], { device: missing!.backend }), 'ERR_DEVICE');
  });
});

forEachBackend('Tensor', (device) => {
  it('tensor() from nested arrays infers the shape', () => {
    const t = ap.tensor([[1, 2, 3], [4, 5, 6]], null, { device });
    assert.deepEqual(shapeOf(t), [2, 3]);
    assert.equal(t.dtype, 'f32');
    assert.equal(t.device, device);
    assert.equal(t.numel, 6);
    assert.equal(t.nbytes, 24);
    assert.deepEqual(values(t), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(t.toNested(), [[1, 2, 3], [4, 5, 6]]);
    t.dispose();
  });

  it('tensor() from flat arrays and typed arrays with a shape', () => {
    const a = ap.tensor([1, 2, 3, 4], [2, 2], { device });
    assert.deepEqual(shapeOf(a), [2, 2]);
    const b = ap.tensor(new Float64Array([0.1, 0.2]), [2], { device: 'cpu' });
    assert.equal(b.dtype, 'f64');
    assert.deepEqual(values(b), [0.1, 0.2]);
    const c = ap.tensor(new Int32Array([7, -8, 9]), null, { device });
    assert.equal(c.dtype, 'i32');
    assert.deepEqual(values(c), [7, -8, 9]);
    const d = ap.tensor(new Uint8Array([1, 255]), [2], { device });
    assert.equal(d.dtype, 'f32');
    assert.deepEqual(values(d), [1, 255]);
    const e = ap.tensor([1.5, -2.25], [2], { device, dtype: 'f32' });
    assert.ok(e.toArray() instanceof Float32Array);
    ap.dispose([a, b, c, d, e]);
  });

  it('a number makes a 0-d tensor; item() reads one element', () => {
    const t = ap.tensor(3.5, null, { device });
    assert.deepEqual(shapeOf(t), []);
    assert.equal(t.numel, 1);
    assert.equal(t.item(), 3.5);
    const u = ap.tensor([[2]], null, { device });
    assert.equal(u.item(), 2);
    const v = ap.tensor([1, 2], null, { device });
    expectCode(() => v.item(), 'ERR_SHAPE');
    ap.dispose([t, u, v]);
  });

  it('empty tensors work', () => {
    const t = ap.zeros([0, 3], { device });
    assert.equal(t.numel, 0);
    assert.equal(t.toArray().length, 0);
    t.dispose();
  });

  it('data() reads asynchronously', async () => {
    const t = ap.tensor([1, 2, 3], null, { device });
    const d = await t.data();
    assert.ok(d instanceof Float32Array);
    assert.deepEqual(Array.from(d), [1, 2, 3]);
    t.dispose();
    await expectCodeAsync(() => t.data(), 'ERR_DISPOSED');
  });

  it('zeros, ones, full, zerosLike, onesLike', () => {
    const z = ap.zeros([2, 3], { device });
    const o = ap.ones([3], { device, dtype: 'i32' });
    const f = ap.full([2], -1.25, { device });
    const zl = ap.zerosLike(f);
    const ol = ap.onesLike(f);
    assert.deepEqual(values(z), [0, 0, 0, 0, 0, 0]);
    assert.ok(o.toArray() instanceof Int32Array);
    assert.deepEqual(values(o), [1, 1, 1]);
    assert.deepEqual(values(f), [-1.25, -1.25]);
    assert.deepEqual(values(zl), [0, 0]);
    assert.deepEqual(values(ol), [1, 1]);
    assert.equal(zl.device, device);
    ap.dispose([z, o, f, zl, ol]);
  });

  it('to() copies between devices and back, same device returns the tensor itself', () => {
    const src = ap.tensor([1, -2, 3.5, 1e-30], [2, 2], { device });
    const cpu = src.to('cpu');
    assert.equal(cpu.device, 'cpu');
    assertSame(cpu.toArray(), src.toArray(), 'to(cpu)');
    const back = cpu.to(device);
    assert.equal(back.device, device);
    assertSame(back.toArray(), src.toArray(), 'round trip');
    assert.equal(src.to(device), src);
    ap.dispose([src, cpu, back]);
  });

  it('dispose() is idempotent and later use throws ERR_DISPOSED', () => {
    const t = ap.tensor([1, 2], null, { device });
    t.dispose();
    t.dispose();
    assert.equal(t.isDisposed, true);
    expectCode(() => t.toArray(), 'ERR_DISPOSED');
    expectCode(() => t.item(), 'ERR_DISPOSED');
    expectCode(() => t.add(t), 'ERR_DISPOSED');
    expectCode(() => t.reshape([2, 1]), 'ERR_DISPOSED');
    expectCode(() => t.to('cpu'), 'ERR_DISPOSED');
    expectCode(() => ap.kernels.relu(t), 'ERR_DISPOSED');
    assert.match(String(t), /disposed/);
  });

  it('reshape is a view that survives disposing the original', () => {
    const t = ap.tensor([1, 2, 3, 4, 5, 6], [6], { device });
    const r = t.reshape([2, -1]);
    assert.deepEqual(shapeOf(r), [2, 3]);
    t.dispose();
    assert.deepEqual(values(r), [1, 2, 3, 4, 5, 6]);
    r.dispose();
  });

  it('detach() shares storage and is a leaf outside the tape', () => {
    const x = ap.tensor([1, 2], null, { device, requiresGrad: true });
    const y = x.mul(2);
    assert.equal(y.requiresGrad, true);
    const d = y.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    assert.deepEqual(values(d), [2, 4]);
    ap.dispose([x, y, d]);
  });

  it('requiresGrad can be set on float leaves only', () => {
    const x = ap.tensor([1], null, { device });
    x.requiresGrad = true;
    const y = x.mul(3);
    expectCode(() => { y.requiresGrad = false; }, 'ERR_ARG');
    const i = ap.tensor(new Int32Array([1]), null, { device });
    expectCode(() => { i.requiresGrad = true; }, 'ERR_DTYPE');
    ap.dispose([x, y, i]);
  });

  it('toString shows dtype, shape, device and small contents', () => {
    const t = ap.tensor([1, 2], null, { device });
    assert.equal(String(t), `Tensor(f32 [2] on ${device}: 1, 2)`);
    t.dispose();
  });
});
