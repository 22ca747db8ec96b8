#!/usr/bin/env node
// The `advprop` command's launcher. sharp decodes images on Node's libuv thread pool, 4 threads
// unless UV_THREADPOOL_SIZE says otherwise, which would cap a loader with more workers at 4
// decodes at a time. The pool reads the variable when it starts, and loading an ES module
// already starts it, so it is set here, in CommonJS, before main.js is imported.
import { availableParallelism } from 'node:os';

if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism() + 2));
void import('./main.js');
