// Starts a loader worker from TypeScript sources (tests, `node --import tsx`): workers do not
// inherit tsx's loader, so register it here before importing the worker module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
