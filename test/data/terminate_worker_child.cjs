// Child of terminate_worker.test.ts: starts workers that call one addon entry in a loop and
// terminates each at a random moment. argv: entry name, worker count.
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const path = require('node:path');

if (isMainThread) {
  const [entry, count] = [process.argv[2], Number(process.argv[3])];
  let done = 0, jpeg;
  const next = () => {
    const w = new Worker(__filename, { workerData: { entry, jpeg } });
    w.on('error', (e) => { console.error(e); process.exitCode = 1; });
    w.once('message', () => setTimeout(() => void w.terminate().then(() => (++done < count ? next() : console.log(`terminated ${done}`))), Math.random() * 10));
  };
  const noise = Buffer.from(Array.from({ length: 500 * 375 * 3 }, (_, i) => (i * 2654435761) >>> 24));
  require('sharp')(noise, { raw: { width: 500, height: 375, channels: 3 } }).jpeg().toBuffer().then((b) => { jpeg = b; next(); });
} else {
  const addon = require('node-gyp-build')(path.join(__dirname, '..', '..'));
  const img = new Uint8Array(224 * 224 * 3), { entry, jpeg } = workerData;
  const call = entry === 'jpegDecode'
    ? () => addon.jpegDecode(jpeg, 0, 0, 375, 500, 224, 224, 3)
    : () => addon.imageAugment('sharpness', img, 224, 224, 3, [1.5]);
  parentPort.postMessage('running');
  for (;;) call();
}
