import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend, availableDevices } from '../../lib/testing/backends.js';
import { assertSame, expectCode } from '../helpers.js';

forEachBackend('cast / to / clone', (device) => {
  it('f32 <-> i32 truncates toward zero and saturates; NaN becomes 0', () => {
    ap.tidy(() => {
      const x = ap.tensor([1.9, -1.9, 0.5, -0.5, 3e9, -3e9, NaN, 7], null, { device });
      const i = x.cast('i32');
      assert.equal(i.dtype, 'i32');
      assert.deepEqual(Array.from(i.toArray()), [1, -1, 0, 0, 2147483647, -2147483648, 0, 7]);
      const back = i.cast('f32');
      assert.deepEqual(Array.from(back.toArray()), [1, -1, 0, 0, 2147483648, -2147483648, 0, 7]);
    });
  });

  it('clone copies, so the copy outlives the original', () => {
    ap.tidy(() => {
      const x = ap.tensor([1, 2, 3], null, { device });
      const c = x.clone();
      x.dispose();
      assert.deepEqual(Array.from(c.toArray()), [1, 2, 3]);
    });
  });

  it('cast to the same dtype copies; unknown dtypes are ERR_DTYPE', () => {
    ap.tidy(() => {
      const x = ap.tensor([1, 2], null, { device });
      const y = x.cast('f32');
      assert.notEqual(y, x);
      assertSame(y.toArray(), x.toArray());
      expectCode(() => x.cast('u8' as 'f32'), 'ERR_DTYPE'); // an enum value with no data kernels
      expectCode(() => x.cast(3 as unknown as 'f32'), 'ERR_DTYPE');
    });
  });

  it('to() moves to every other available device bit-exactly', () => {
    ap.tidy(() => {
      const h = Float32Array.from([1, -0, 1e-40, Infinity, -3.25, NaN]);
      const x = ap.tensor(h, null, { device });
      for (const other of availableDevices()) {
        const y = x.to(other);
        assert.equal(y.device, other);
        assertSame(y.toArray(), h, `${device} -> ${other}`);
      }
      expectCode(() => x.to('gpu'), 'ERR_DEVICE');
      expectCode(() => x.to(0 as unknown as string), 'ERR_DEVICE');
    });
  });
});
