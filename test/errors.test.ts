// Bad input through every public entry: each must throw an AdvpropError with the right code,
// never crash the process, never leak what it allocated before failing.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { rawAddon as native } from '../lib/native.js';
import { availableDevices, forEachBackend } from '../lib/testing/backends.js';
import { expectCode, expectCodeAsync } from './helpers.js';

const any = <T>(v: unknown): T => v as T;
const BAD_SIZES = [NaN, -1, 1.5, Infinity, -Infinity, 2 ** 49, '3', null];

describe('AdvpropError', () => {
  it('is an Error with a name, a code and a message naming the op', () => {
    const e = expectCode(() => ap.tidy(() => ap.zeros([2]).add(ap.zeros([3]))), 'ERR_SHAPE');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'AdvpropError');
    assert.match(e.message, /add/);
    assert.match(e.message, /\[2\]/);
    assert.match(e.message, /\[3\]/);
    assert.match(String(e.stack), /AdvpropError \[ERR_SHAPE\]/);
  });
});

forEachBackend('bad arguments', (device) => {
  let before: ap.MemoryInfo;
  beforeEach(() => {
    before = ap.memory();
  });
  afterEach(() => {
    const after = ap.memory();
    assert.equal(after.numTensors, before.numTensors, 'a failed call leaked a tensor');
    assert.equal(after.devices[device].liveTensors, before.devices[device].liveTensors, 'a failed call leaked native memory');
  });

  it('tensor(): values, shapes, dtypes, devices and options', () => {
    expectCode(() => ap.tensor(any('abc'), null, { device }), 'ERR_ARG');
    expectCode(() => ap.tensor(any({}), null, { device }), 'ERR_ARG');
    expectCode(() => ap.tensor(any(undefined), null, { device }), 'ERR_ARG');
    expectCode(() => ap.tensor([[1, 2], [3]], null, { device }), 'ERR_SHAPE', 'ragged');
    expectCode(() => ap.tensor([[1, 2], 3], null, { device }), 'ERR_SHAPE');
    expectCode(() => ap.tensor(any([1, 'x']), null, { device }), 'ERR_ARG');
    expectCode(() => ap.tensor(any([1, undefined]), null, { device }), 'ERR_ARG');
    expectCode(() => ap.tensor([1, 2, 3], [2, 2], { device }), 'ERR_SHAPE');
    for (const s of BAD_SIZES) expectCode(() => ap.tensor([1], any([s]), { device }), 'ERR_SHAPE');
    expectCode(() => ap.tensor([1], any('1'), { device }), 'ERR_ARG');
    expectCode(() => ap.tensor([1], [1, 1, 1, 1, 1, 1, 1, 1, 1], { device }), 'ERR_SHAPE');
    expectCode(() => ap.tensor([1], null, { device, dtype: any('float32') }), 'ERR_DTYPE');
    expectCode(() => ap.tensor([1], null, { device, dtype: any('u8') }), 'ERR_DTYPE');
    expectCode(() => ap.tensor([1.5], null, { device, dtype: 'i32' }), 'ERR_ARG');
    expectCode(() => ap.tensor([2 ** 40], null, { device, dtype: 'i32' }), 'ERR_ARG');
    expectCode(() => ap.tensor([1], null, { device: 'tpu' }), 'ERR_DEVICE');
    expectCode(() => ap.tensor([1], null, { device: 'cuda:x' }), 'ERR_DEVICE');
    expectCode(() => ap.tensor([1], null, { device: 'cpu:3' }), 'ERR_DEVICE');
    expectCode(() => ap.tensor([1], null, { device: any(7) }), 'ERR_DEVICE');
    expectCode(() => ap.tensor([1], null, any('cpu')), 'ERR_ARG');
    expectCode(() => ap.tensor(new BigInt64Array(2) as unknown as number[], null, { device }), 'ERR_DTYPE');
    expectCode(() => ap.tensor([1], null, { device, requiresGrad: any('yes') }), 'ERR_ARG');
    expectCode(() => ap.zeros([1], { device, dtype: 'i32', requiresGrad: true }), 'ERR_DTYPE');
  });

  it('zeros / ones / full: NaN, negative, fractional, huge and overflowing sizes', () => {
    for (const f of [ap.zeros, ap.ones]) {
      expectCode(() => f(any(3), { device }), 'ERR_ARG');
      expectCode(() => f(any(undefined), { device }), 'ERR_ARG');
      for (const s of BAD_SIZES) expectCode(() => f(any([2, s]), { device }), 'ERR_SHAPE');
      // Each size is valid but the product overflows int64 element counts.
      expectCode(() => f([2 ** 40, 2 ** 40], { device }), 'ERR_SHAPE');
    }
    // A valid shape no device can hold: the allocator must refuse it cleanly.
    expectCode(() => ap.zeros([2 ** 46], { device }), 'ERR_OOM');
    expectCode(() => ap.full([2], any('1'), { device }), 'ERR_ARG');
    expectCode(() => ap.full([2], 1, { device, dtype: any('u8') }), 'ERR_DTYPE');
    expectCode(() => ap.zeros([2], { device: '' }), 'ERR_DEVICE');
  });

  it('rand / randn: seeds, offsets, ranges and dtypes', () => {
    for (const seed of [-1, 1.5, NaN, 2 ** 64, any('1')]) expectCode(() => ap.rand([2], { device, seed: any(seed) }), 'ERR_ARG');
    expectCode(() => ap.rand([2], { device, seed: 2n ** 64n }), 'ERR_ARG');
    expectCode(() => ap.rand([2], { device, seed: -1n }), 'ERR_ARG');
    expectCode(() => ap.rand([2], { device, offset: 3 }), 'ERR_ARG');
    expectCode(() => ap.rand([2], { device, seed: 1, lo: 2, hi: 1 }), 'ERR_ARG');
    expectCode(() => ap.rand([2], { device, seed: 1, lo: NaN }), 'ERR_ARG');
    expectCode(() => ap.randn([2], { device, seed: 1, std: -1 }), 'ERR_ARG');
    expectCode(() => ap.randn([2], { device, seed: 1, dtype: 'i32' }), 'ERR_DTYPE');
    expectCode(() => ap.randn(any([NaN]), { device, seed: 1 }), 'ERR_SHAPE');
    expectCode(() => ap.manualSeed(-3), 'ERR_ARG');
    expectCode(() => ap.setRngState({ seed: 1n, offset: -1n }), 'ERR_ARG');
  });

  it('every op and kernel refuses disposed tensors with ERR_DISPOSED', async () => {
    const d = ap.ones([2, 2], { device });
    const ok = ap.ones([2, 2], { device });
    d.dispose();
    const k = ap.kernels;
    const calls: [string, () => unknown][] = [
      ['toArray', () => d.toArray()], ['item', () => d.item()], ['to', () => d.to('cpu')], ['clone', () => d.clone()],
      ['cast', () => d.cast('f64')], ['detach', () => d.detach()], ['reshape', () => d.reshape([4])], ['slice0', () => d.slice0(0, 1)],
      ['concat0', () => ap.concat0([ok, d])], ['add', () => ap.add(ok, d)], ['sub', () => ap.sub(d, ok)], ['mul', () => ap.mul(d, 2)],
      ['div', () => ap.div(ok, d)], ['silu', () => ap.silu(d)], ['sum', () => ap.sum(d)], ['mean', () => ap.mean(d, [0])],
      ['k.binary', () => k.binary('add', d, ok)], ['k.unary', () => k.unary('exp', d)], ['k.unaryBackward', () => k.unaryBackward('silu', ok, d)],
      ['k.sum', () => k.sum(d)], ['k.sumToShape', () => k.sumToShape(d, [2])], ['k.sumBackward', () => k.sumBackward(d, [2, 2], [])],
      ['k.reshape', () => k.reshape(d, [4])], ['k.slice0', () => k.slice0(d, 0, 1)], ['k.concat0', () => k.concat0([d])],
      ['k.slice0Backward', () => k.slice0Backward(d, 3, 0)], ['k.cast', () => k.cast(d, 'f32')], ['k.toDevice', () => k.toDevice(d, 'cpu')],
      ['k.clone', () => k.clone(d)], ['keep', () => ap.keep(d)], ['backward', () => d.backward()],
      ['grad', () => ap.grad(() => ok.sum(), [d])],
    ];
    for (const [name, call] of calls) {
      try {
        call();
        assert.fail(`${name} accepted a disposed tensor`);
      } catch (e) {
        assert.ok(e instanceof ap.AdvpropError, `${name}: ${String(e)}`);
        assert.equal(e.code, 'ERR_DISPOSED', `${name}: ${e.message}`);
      }
    }
    await expectCodeAsync(() => d.data(), 'ERR_DISPOSED');
    ok.dispose();
  });

  it('every kernel refuses non-tensors and wrong argument types with ERR_ARG', () => {
    ap.tidy(() => {
      const x = ap.ones([2, 2], { device });
      const k = ap.kernels;
      const calls: [string, () => unknown][] = [
        ['binary op', () => k.binary(any('pow'), x, x)], ['binary a', () => k.binary('add', any([1]), x)],
        ['unary op', () => k.unary(any('tanh'), x)], ['unary x', () => k.unary('exp', any(1))], ['unary alpha', () => k.unary('scale', x, any('2'))],
        ['unaryBackward dy', () => k.unaryBackward('relu', x, any(null))], ['sum axes', () => k.sum(x, any('0'))],
        ['sumToShape shape', () => k.sumToShape(x, any(2))], ['reshape shape', () => k.reshape(x, any({}))],
        ['slice0 start', () => k.slice0(x, any('0'), 1)], ['slice0 len', () => k.slice0(x, 0, NaN)],
        ['concat0 list', () => k.concat0(any(x))], ['slice0Backward rows', () => k.slice0Backward(x, any(undefined), 0)],
        ['fill value', () => k.fill([2], any(null), 'f32', device)], ['uniform seed', () => k.uniform([2], 'f32', device, any('s'), 0)],
        ['normal offset', () => k.normal([2], 'f32', device, 1, -1)], ['clone', () => k.clone(any({ shape: [1] }))],
        ['keep', () => ap.keep(any(3))], ['tidy', () => ap.tidy(any(null))], ['grad inputs', () => ap.grad(() => x.sum(), any(x))],
      ];
      for (const [name, call] of calls) {
        try {
          call();
          assert.fail(`${name} accepted a bad argument`);
        } catch (e) {
          assert.ok(e instanceof ap.AdvpropError, `${name}: ${String(e)}`);
          assert.equal(e.code, 'ERR_ARG', `${name}: ${e.message}`);
        }
      }
    });
  });

  it('values that lib passes on unchecked get errors naming the op, the argument and the value', () => {
    ap.tidy(() => {
      const x = ap.ones([2, 2], { device });
      const k = ap.kernels;
      expectCode(() => k.binary(any('pow'), x, x), 'ERR_ARG', /binary: 'op' must be one of .*, got 'pow'/);
      expectCode(() => k.fill([2], 0, any('f8'), device), 'ERR_DTYPE', /full: argument 'dtype' .*, got 'f8'/);
      expectCode(() => k.toDevice(x, 'tpu'), 'ERR_DEVICE', /to: invalid device 'tpu'/);
      expectCode(() => k.sum(x, [5]), 'ERR_ARG', /sum: axis 5 out of range for x \[2, 2\]/);
      expectCode(() => k.sumBackward(x, [3, 2], [0]), 'ERR_SHAPE', /sumBackward: dy \[2, 2\] does not match the reduction of \[3, 2\]/);
      const img = ap.ones([1, 4, 4, 2], { device }), w = ap.ones([2, 3, 3, 2], { device });
      expectCode(() => k.conv2d(img, w, null, { groups: 0 }), 'ERR_ARG', /conv2d: .*groups 0/);
      expectCode(() => k.conv2d(img, w, null, { stride: any([1, 1, 1]) }), 'ERR_ARG', /conv2d: stride and dilation must be \[h, w\]/);
      const p = { gamma: ap.ones([2, 2], { device }), beta: ap.zeros([2, 2], { device }), runningMean: ap.zeros([2, 2], { device }), runningVar: ap.ones([2, 2], { device }) };
      const xb = ap.ones([2, 1, 1, 2], { device });
      expectCode(() => k.multiBatchNorm(xb, p, [[-1, 2]]), 'ERR_ARG', /multiBatchNorm: segments\[0\] has domain -1/);
      expectCode(() => k.multiBatchNorm(xb, p, [[0, 2]], { act: any('gelu') }), 'ERR_ARG', /multiBatchNorm: 'act' must be one of .*, got 'gelu'/);
      expectCode(() => k.pgdStep(x, x, x, { eps: 0.1, alpha: 0.1, norm: any('l1') }), 'ERR_ARG', /pgdStep: 'norm' must be one of .*, got 'l1'/);
      expectCode(() => k.sgdUpdate([x], [x.clone()], [x.clone()], { lr: 0.1, decay: [true, true] }), 'ERR_ARG', /sgdUpdate: 'decay' has 2 flags but 'params' has 1 tensors/);
      expectCode(() => k.slice0Backward(x, 2, 1), 'ERR_SHAPE', /sliceBackward: dy \[2, 2\] at row 1 does not fit in 2 rows/);
      const labels = ap.tensor(Int32Array.from([0, 1]), [2], { dtype: 'i32', device });
      const { lse } = k.crossEntropyForward(x, labels);
      for (const scale of [NaN, Infinity])
        expectCode(() => k.crossEntropyBackward(x, labels, lse, ap.ones([2], { device }), scale), 'ERR_ARG', /crossEntropyBackward: scale must be a finite number/);
    });
  });

  it('slices out of range and reshapes that do not fit', () => {
    ap.tidy(() => {
      const x = ap.ones([3, 2], { device });
      expectCode(() => x.slice0(2, 2), 'ERR_SHAPE');
      expectCode(() => x.slice0(0, 2 ** 50), 'ERR_ARG');
      expectCode(() => ap.kernels.slice0Backward(x, 2, 0), 'ERR_SHAPE');
      expectCode(() => ap.kernels.slice0Backward(x, -1, 0), 'ERR_ARG');
      expectCode(() => x.reshape([4]), 'ERR_SHAPE');
      expectCode(() => x.reshape([NaN]), 'ERR_SHAPE');
    });
  });
});

describe('raw binding: objects that only look like tensor handles', () => {
  it('Object.create(NativeTensor.prototype) and objects inheriting from a handle are ERR_ARG', () => {
    const real = native.full([2], 'f32', 'cpu', 1);
    const ctor = (native as unknown as { NativeTensor: { prototype: object } }).NativeTensor;
    const fakes = [Object.create(ctor.prototype), Object.create(real)];
    for (const fake of fakes) {
      const calls: [string, () => unknown][] = [
        ['toArray', () => native.toArray(fake)], ['dispose', () => native.dispose(fake)], ['isDisposed', () => native.isDisposed(fake)],
        ['share', () => native.share(fake)], ['binary', () => native.binary('add', real, fake)], ['concat0', () => native.concat0([real, fake])],
        ['toArrayAsync', () => native.toArrayAsync(fake)],
      ];
      for (const [name, call] of calls) {
        let thrown: unknown;
        try {
          call();
        } catch (e) {
          thrown = e;
        }
        assert.ok(thrown instanceof Error, `${name} accepted a fake handle`);
        assert.equal((thrown as Error).name, 'AdvpropError', `${name}: ${String(thrown)}`);
        assert.equal((thrown as { code?: string }).code, 'ERR_ARG', `${name}: ${String(thrown)}`);
      }
    }
    assert.deepEqual(Array.from(native.toArray(real)), [1, 1]);
    native.dispose(real);
  });
});

describe('raw binding: a disposed handle never reaches the memory its slot is reused for', () => {
  it('stays ERR_DISPOSED after its slot holds a new tensor, and frees its handle at once', () => {
    const before = native.handleStats().live;
    const old = native.full([3], 'f32', 'cpu', 1);
    assert.equal(native.handleStats().live, before + 1);
    native.dispose(old);
    assert.equal(native.handleStats().live, before, 'dispose must release the handle without waiting for the event loop');
    const fresh = Array.from({ length: 4 }, (_, i) => native.full([3], 'f32', 'cpu', i + 2));
    for (const call of [() => native.toArray(old), () => native.share(old), () => native.unary('exp', old, 0)]) {
      // The raw binding's errors carry the name and code but are not lib's AdvpropError class.
      assert.throws(call, (e: Error & { code?: string }) => e.name === 'AdvpropError' && e.code === 'ERR_DISPOSED');
    }
    assert.equal(native.isDisposed(old), true);
    native.dispose(old);  // a second dispose is a no-op, and must not free the slot's new tenant
    fresh.forEach((t, i) => assert.deepEqual(Array.from(native.toArray(t)), [i + 2, i + 2, i + 2]));
    fresh.forEach((t) => native.dispose(t));
    assert.equal(native.handleStats().live, before);
  });
});

describe('bad arguments across devices', () => {
  const devs = availableDevices();
  const other = devs.find((d) => d !== 'cpu');
  if (!other) {
    it.skip('mixed-device inputs: skipped (only the cpu backend is available)');
    return;
  }
  it(`mixed cpu / ${other} inputs are ERR_DEVICE in every multi-input op`, () => {
    ap.tidy(() => {
      const a = ap.ones([2, 2], { device: 'cpu' });
      const b = ap.ones([2, 2], { device: other });
      expectCode(() => ap.add(a, b), 'ERR_DEVICE');
      expectCode(() => ap.mul(b, a), 'ERR_DEVICE');
      expectCode(() => ap.concat0([a, b]), 'ERR_DEVICE');
      expectCode(() => ap.kernels.unaryBackward('silu', a, b), 'ERR_DEVICE');
    });
  });
});
