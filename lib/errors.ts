// One error type for everything advprop throws on purpose. The addon throws plain Errors with
// `name === 'AdvpropError'` and a `code`; every native call goes through guardNative() so callers
// can rely on `instanceof AdvpropError` whichever layer found the problem.

export type ErrorCode =
  | 'ERR_SHAPE' | 'ERR_DTYPE' | 'ERR_DEVICE' | 'ERR_DISPOSED' | 'ERR_OOM' | 'ERR_CUDA'
  | 'ERR_IO' | 'ERR_FORMAT' | 'ERR_ARG' | 'ERR_INTERNAL' | 'ERR_DIST';

export class AdvpropError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    // Error() would throw a TypeError for a symbol or an object without toString.
    super(typeof message === 'string' ? message : safeString(message), options);
    this.name = 'AdvpropError';
    this.code = code;
  }
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return `(${typeof v})`;
  }
}

export function isNativeAdvpropError(e: unknown): e is Error & { code: ErrorCode } {
  if (!(e instanceof Error) || e instanceof AdvpropError) return false;
  const code = (e as { code?: unknown }).code;
  return e.name === 'AdvpropError' || (typeof code === 'string' && code.startsWith('ERR_') && !code.startsWith('ERR_INVALID'));
}

/** Converts an error coming out of the addon; anything else is returned unchanged. */
export function convertError(e: unknown): unknown {
  if (!isNativeAdvpropError(e)) return e;
  const err = new AdvpropError(e.code, e.message, { cause: e });
  // Keep the native frame list: it shows which lib call reached the addon.
  if (e.stack) err.stack = `AdvpropError [${e.code}]: ${e.message}\n${e.stack.split('\n').slice(1).join('\n')}`;
  return err;
}

/** Wraps every function of the binding so its errors (sync or rejected) become AdvpropErrors. */
export function guardNative<T extends object>(binding: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(binding)) {
    if (typeof value !== 'function') {
      out[key] = value;
      continue;
    }
    const fn = value as (...args: unknown[]) => unknown;
    out[key] = (...args: unknown[]) => {
      let r: unknown;
      try {
        r = fn.apply(binding, args);
      } catch (e) {
        throw convertError(e);
      }
      if (r instanceof Promise) return r.catch((e: unknown) => { throw convertError(e); });
      return r;
    };
  }
  return out as T;
}

export function fail(code: ErrorCode, message: string): never {
  throw new AdvpropError(code, message);
}

export function check(cond: unknown, code: ErrorCode, message: () => string): asserts cond {
  if (!cond) throw new AdvpropError(code, message());
}
