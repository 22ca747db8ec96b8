// Runs a mocha suite once per backend. A backend this machine cannot run still shows up in the
// output as a pending test whose title says why, so a skip is never silent.
import { devices } from '../device.js';

// mocha's globals, reached through globalThis so the library build needs no @types/mocha.
interface MochaGlobals {
  describe(title: string, fn: () => void): void;
  it: ((title: string, fn: () => unknown) => void) & { skip(title: string): void };
}
const mocha = (): MochaGlobals => globalThis as unknown as MochaGlobals;

export const BACKENDS = ['cpu', 'cuda-sim', 'cuda'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendStatus {
  backend: BackendName;
  /** Canonical device name when available ('cpu', 'cuda-sim:0', 'cuda:0'). */
  device: string | null;
  available: boolean;
  reason: string;
}

let cached: BackendStatus[] | null = null;

/** ADVPROP_TEST_BACKENDS=cpu,cuda-sim limits the run; the others are reported as skipped. */
export function backendStatus(): BackendStatus[] {
  if (cached) return cached;
  const only = process.env.ADVPROP_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean);
  const all = devices();
  cached = BACKENDS.map((backend): BackendStatus => {
    const entries = all.filter((d) => d.type === backend);
    const usable = entries.find((d) => d.available);
    if (only && !only.includes(backend))
      return { backend, device: null, available: false, reason: `excluded by ADVPROP_TEST_BACKENDS=${process.env.ADVPROP_TEST_BACKENDS}` };
    if (usable) return { backend, device: usable.device, available: true, reason: '' };
    const why = entries[0]?.reason || 'not listed by this build';
    const label = backend === 'cuda' ? 'no CUDA device' : backend === 'cuda-sim' ? 'no CUDA simulator' : 'no CPU backend';
    return { backend, device: null, available: false, reason: `${label}: ${why}` };
  });
  return cached;
}

/** Canonical device names of the backends this run uses. */
export function availableDevices(): string[] {
  return backendStatus().filter((b) => b.available).map((b) => b.device!);
}

export function deviceOf(backend: BackendName): string | null {
  return backendStatus().find((b) => b.backend === backend)?.device ?? null;
}

/** describe(`${title} [backend]`) for each available backend; a pending test for each missing one. */
export function forEachBackend(title: string, body: (device: string, backend: BackendName) => void): void {
  for (const b of backendStatus()) {
    const { describe, it } = mocha();
    if (b.available) describe(`${title} [${b.backend}]`, () => body(b.device!, b.backend));
    else describe(`${title} [${b.backend}]`, () => it.skip(`${b.backend}: skipped (${b.reason})`));
  }
}

/** One it() per backend. */
export function itOnEachBackend(title: string, fn: (device: string, backend: BackendName) => void | Promise<void>): void {
  for (const b of backendStatus()) {
    const { it } = mocha();
    if (b.available) it(`${title} [${b.backend}]`, () => fn(b.device!, b.backend));
    else it.skip(`${title} [${b.backend}]: skipped (${b.reason})`);
  }
}
