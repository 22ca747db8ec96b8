// A fuzz worker: a child process that runs one case at a time on request over IPC and reports
// how it ended. A crash or a hang takes only this process down; the runner starts another.
import { mkdirSync } from 'node:fs';
import { makeContext } from './fixtures.js';
import { runCase, type RunRequest } from './case.js';

const base = process.env.ADVPROP_FUZZ_TMP;
if (!base) throw new Error('fuzz worker: ADVPROP_FUZZ_TMP is not set');
mkdirSync(base, { recursive: true });
process.env.TMPDIR = base;
const ctx = makeContext();

process.on('message', (m: RunRequest) => {
  if (m?.type !== 'run') return;
  void runCase(m, ctx).then((r) => process.send!(r),
    (e: unknown) => process.send!({ type: 'result', id: m.id, outcome: 'harness', error: String(e), ms: 0, leaked: 0, mutations: 0 }));
});
process.send!({ type: 'ready' });
