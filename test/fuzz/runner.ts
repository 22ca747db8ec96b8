// The fuzz runner: a pool of worker processes fed calls over IPC. A worker that dies during a call
// records it as a crash, one that runs past the entry's time limit is killed and records a hang;
// either way a fresh worker takes the next call. Which call comes when depends on the seed alone.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Rand, caseSeed } from './gen.js';
import type { Entry } from './entry.js';
import type { RunReply, RunRequest } from './case.js';

export interface FuzzOptions {
  calls: number;
  seed: number;
  workers: number;
  entries: readonly Entry[];
  /** Called after each call with the number done. */
  onProgress?: (done: number, total: number) => void;
}

export interface Failure { entry: string; seed: number; kind: 'crash' | 'hang' | 'untyped' | 'internal' | 'harness'; detail: string }

export interface FuzzSummary {
  calls: number;
  ok: number;
  usage: number;
  coded: Record<string, number>;
  crashes: number;
  hangs: number;
  untyped: number;
  /** ERR_INTERNAL: coded, but it means a check inside the library failed, not the caller's input. */
  internal: number;
  harness: number;
  failures: Failure[];
  /** Calls that left tensors alive after their cleanup, per entry, with the first such case's seed. */
  leaks: Record<string, { calls: number; seed: number }>;
  perEntry: Record<string, { calls: number; ok: number; ms: number }>;
  /** How each call ended ('entry ok', 'entry ERR_ARG', 'entry hang', ...), in call order: equal for equal seeds. */
  outcomes: string[];
  ms: number;
}

/**
 * The entry of each call: smooth weighted round-robin over the entries in an order shuffled by the
 * seed, so every entry comes up in proportion to its weight and none is left out of a long run.
 */
export function schedule(entries: readonly Entry[], calls: number, seed: number): Entry[] {
  const r = new Rand(seed ^ 0x5bd1e995);
  const order = entries.slice();
  for (let i = order.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const total = order.reduce((a, e) => a + e.weight, 0);
  const credit = new Float64Array(order.length);
  const out: Entry[] = [];
  for (let c = 0; c < calls; c++) {
    let best = 0;
    for (let i = 0; i < order.length; i++) {
      credit[i] += order[i]!.weight;
      if (credit[i]! > credit[best]!) best = i;
    }
    credit[best] -= total;
    out.push(order[best]!);
  }
  return out;
}

const WORKER = join(fileURLToPath(new URL('.', import.meta.url)), 'worker.ts');
// import.meta.resolve is missing when tsx compiles this file to CommonJS (as under mocha).
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface Slot { proc: ChildProcess; ready: Promise<void>; stderr: string; busy: { id: number; entry: Entry; seed: number; timer: NodeJS.Timeout; done: (r: RunReply | Failure) => void } | null }

export async function fuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const t0 = Date.now();
  const base = mkdtempSync(join(tmpdir(), 'advprop-fuzz-run-'));
  const plan = schedule(o.entries, o.calls, o.seed);
  const s: FuzzSummary = { calls: 0, ok: 0, usage: 0, coded: {}, crashes: 0, hangs: 0, untyped: 0, internal: 0, harness: 0, failures: [], leaks: {}, perEntry: {}, outcomes: [], ms: 0 };

  const spawn = (): Slot => {
    const proc = fork(WORKER, [], {
      // tsx by absolute URL: cases run in their own folders, and worker threads inherit this flag,
      // which a bare 'tsx' would resolve from the current folder.
      execArgv: ['--import', TSX, '--max-old-space-size=3072'],
      // stdin is a pipe nobody writes to: a call that reads it (a path taken as fd 0) hangs, as it would for a user.
      stdio: ['pipe', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, ADVPROP_FUZZ_TMP: base },
    });
    const slot: Slot = { proc, stderr: '', busy: null, ready: Promise.resolve() };
    slot.ready = new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, sig: string | null): void => reject(new Error(`fuzz worker failed to start (${sig ?? code}): ${slot.stderr.slice(-2000)}`));
      proc.once('exit', onExit);
      proc.once('message', () => { proc.off('exit', onExit); resolve(); });
    });
    proc.stderr!.on('data', (d: Buffer) => { slot.stderr = (slot.stderr + d.toString()).slice(-4000); });
    proc.on('message', (m: RunReply) => {
      if (m.type === 'result' && slot.busy?.id === m.id) {
        const b = slot.busy;
        slot.busy = null;
        clearTimeout(b.timer);
        b.done(m);
      }
    });
    proc.on('exit', (code, sig) => {
      const b = slot.busy;
      if (!b) return;
      slot.busy = null;
      clearTimeout(b.timer);
      b.done({ entry: b.entry.name, seed: b.seed, kind: 'crash', detail: `worker exited (${sig ?? `code ${code}`}); stderr tail:\n${slot.stderr.slice(-1500)}` });
    });
    return slot;
  };

  const runOn = (slot: Slot, id: number, entry: Entry, seed: number): Promise<RunReply | Failure> => new Promise((done) => {
    const timer = setTimeout(() => {
      const b = slot.busy;
      if (!b) return;
      slot.busy = null;
      slot.proc.kill('SIGKILL');
      done({ entry: entry.name, seed, kind: 'hang', detail: `no result within ${entry.timeoutMs} ms` });
    }, entry.timeoutMs);
    slot.busy = { id, entry, seed, timer, done };
    slot.proc.send({ type: 'run', id, entry: entry.name, seed } satisfies RunRequest);
  });

  const record = (id: number, entry: Entry, seed: number, r: RunReply | Failure): void => {
    s.calls++;
    s.outcomes[id] = `${entry.name} ${'kind' in r ? r.kind : r.code ?? r.outcome}`;
    const pe = (s.perEntry[entry.name] ??= { calls: 0, ok: 0, ms: 0 });
    pe.calls++;
    if ('kind' in r) {
      if (r.kind === 'crash') s.crashes++;
      else s.hangs++;
      s.failures.push(r);
      return;
    }
    pe.ms += r.ms;
    // A CLI command runs once in its own process, which frees everything when it exits.
    if (r.leaked > 0 && !entry.name.startsWith('cli.')) (s.leaks[entry.name] ??= { calls: 0, seed }).calls++;
    switch (r.outcome) {
      case 'ok': s.ok++; pe.ok++; break;
      case 'usage': s.usage++; break;
      case 'coded':
        s.coded[r.code!] = (s.coded[r.code!] ?? 0) + 1;
        if (r.code === 'ERR_INTERNAL') { s.internal++; s.failures.push({ entry: entry.name, seed, kind: 'internal', detail: r.error ?? '' }); }
        break;
      case 'untyped': s.untyped++; s.failures.push({ entry: entry.name, seed, kind: 'untyped', detail: r.error ?? '' }); break;
      case 'harness': s.harness++; s.failures.push({ entry: entry.name, seed, kind: 'harness', detail: r.error ?? '' }); break;
    }
  };

  let next = 0;
  const lane = async (): Promise<void> => {
    let slot = spawn();
    await slot.ready;
    while (next < plan.length) {
      const id = next++;
      const entry = plan[id]!;
      const seed = caseSeed(o.seed, id);
      const r = await runOn(slot, id, entry, seed);
      record(id, entry, seed, r);
      o.onProgress?.(s.calls, plan.length);
      if ('kind' in r) {
        slot.proc.kill('SIGKILL');
        slot = spawn();
        await slot.ready;
      }
    }
    slot.proc.kill();
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.workers) }, lane));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  s.ms = Date.now() - t0;
  return s;
}

/** The figures a run prints: calls, outcomes by kind and code, and each failure with its seed. */
export function formatSummary(s: FuzzSummary, o: { seed: number; maxFailures?: number }): string {
  const codes = Object.entries(s.coded).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  const codedTotal = Object.values(s.coded).reduce((a, b) => a + b, 0);
  const lines = [
    `fuzz: seed ${o.seed}: ${s.calls} calls in ${(s.ms / 1000).toFixed(1)} s`,
    `  successes ${s.ok}, coded errors ${codedTotal} (${codes || 'none'}), CLI usage errors ${s.usage}`,
    `  crashes ${s.crashes}, hangs ${s.hangs}, untyped errors ${s.untyped}, ERR_INTERNAL ${s.internal}, harness errors ${s.harness}`,
  ];
  const leaky = Object.entries(s.leaks);
  if (leaky.length) lines.push(`  calls that left tensors alive: ${leaky.map(([e, n]) => `${e} ${n.calls} (e.g. case ${n.seed})`).join(', ')}`);
  for (const f of s.failures.slice(0, o.maxFailures ?? 30))
    lines.push(`  ${f.kind.toUpperCase()} ${f.entry} (case seed ${f.seed}): ${f.detail.split('\n').slice(0, 4).join('\n      ')}`);
  if (s.failures.length > (o.maxFailures ?? 30)) lines.push(`  ... ${s.failures.length - (o.maxFailures ?? 30)} more failures`);
  return lines.join('\n');
}
