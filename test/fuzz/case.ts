// One fuzz case: build the arguments from the seed, make the call, classify how it ended, free
// what it made. The worker process runs these one at a time; `npm run fuzz -- --case` replays one.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ap from '../../lib/index.js';
import { UsageError } from '../../lib/cli/args.js';
import { Gen } from './gen.js';
import type { FuzzContext } from './gen.js';
import { entryByName } from './registry.js';

export interface RunRequest { type: 'run'; id: number; entry: string; seed: number }
export type Outcome = 'ok' | 'coded' | 'usage' | 'untyped' | 'harness';
export interface RunReply {
  type: 'result'; id: number; outcome: Outcome; code?: string; error?: string; ms: number;
  /** Tensors still alive after the case's own cleanup (what the call leaked). */
  leaked: number;
  mutations: number;
}

const ERROR_CODES = new Set(['ERR_SHAPE', 'ERR_DTYPE', 'ERR_DEVICE', 'ERR_DISPOSED', 'ERR_OOM', 'ERR_CUDA', 'ERR_IO', 'ERR_FORMAT', 'ERR_ARG', 'ERR_INTERNAL', 'ERR_DIST']);

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 7).join('\n')}`;
  try { return `thrown non-Error: ${String(e)}`; } catch { return 'thrown non-Error'; }
}

function classify(e: unknown, cli: boolean): { outcome: Outcome; code?: string } {
  if (e instanceof ap.AdvpropError && ERROR_CODES.has(e.code)) return { outcome: 'coded', code: e.code };
  // The CLI turns these into one line and exit code 2, which is its contract for bad options.
  if (cli && (e instanceof UsageError || String((e as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS'))) return { outcome: 'usage' };
  return { outcome: 'untyped' };
}

/** Frees what a call returned: tensors (searched as dispose() does), modules, optimizers, loaders. */
function release(v: unknown): void {
  if (v === null || typeof v !== 'object') return;
  const o = v as { dispose?: unknown; close?: unknown };
  try {
    if (o instanceof ap.nn.Module || o instanceof ap.train.Trainer || o instanceof ap.optim.RMSProp || o instanceof ap.optim.SGD
      || o instanceof ap.optim.ExponentialMovingAverage) (o.dispose as () => void).call(o);
    else if (o instanceof ap.data.DataLoader) o.close();
    else ap.dispose(v);
  } catch { /* already freed */ }
}

/** Errors thrown after a call settled (a stray rejection): charged to the call that is running. */
const late: unknown[] = [];
process.on('unhandledRejection', (e) => { late.push(e); });
process.on('uncaughtException', (e) => { late.push(e); });

export async function runCase(req: RunRequest, shared: FuzzContext): Promise<RunReply> {
  // Relative paths a call writes (a CLI --out of '0', a default runs/ folder) land in the case's
  // own folder: never in the checkout, and never where a later case could read them.
  const ctx = { ...shared, tmp: mkdtempSync(join(shared.root, 'case-')) };
  const cwd = process.cwd();
  process.chdir(ctx.tmp);
  try {
    return await runIn(req, ctx);
  } finally {
    process.chdir(cwd);
    rmSync(ctx.tmp, { recursive: true, force: true });
  }
}

async function runIn(req: RunRequest, ctx: FuzzContext): Promise<RunReply> {
  const entry = entryByName(req.entry);
  const cli = req.entry.startsWith('cli.');
  const before = ap.memory().numTensors;
  ap.manualSeed(req.seed);
  const g = new Gen(req.seed, ctx);
  let call: () => unknown;
  const t0 = performance.now();
  try {
    call = entry.make(g);
  } catch (e) {
    g.cleanup();
    return { type: 'result', id: req.id, outcome: 'harness', error: `building the arguments failed: ${describe(e)}`, ms: 0, leaked: 0, mutations: g.mutations };
  }
  let reply: Omit<RunReply, 'ms' | 'leaked'>;
  try {
    let r = call();
    if (r instanceof Promise) r = await r;
    release(r);
    reply = { type: 'result', id: req.id, outcome: 'ok', mutations: g.mutations };
  } catch (e) {
    const c = classify(e, cli);
    reply = { type: 'result', id: req.id, ...c, error: c.outcome === 'untyped' || c.code === 'ERR_INTERNAL' ? describe(e) : undefined, mutations: g.mutations };
  }
  const ms = performance.now() - t0;
  // One turn of the event loop, so that a rejection the call left behind is charged to it.
  await new Promise((resolve) => setImmediate(resolve));
  g.cleanup();
  // Global switches a call may have flipped: the next case starts from the defaults.
  ap.setGradEnabled(true);
  ap.setDefaultDevice(null);
  if (late.length) {
    const e = late.splice(0);
    return { ...reply, outcome: 'untyped', error: `after the call settled: ${e.map(describe).join('\n')}`, ms, leaked: 0 };
  }
  return { ...reply, ms, leaked: Math.max(0, ap.memory().numTensors - before) };
}

