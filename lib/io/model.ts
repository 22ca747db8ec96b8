// A module's weights on disk: its state dict under timm's names, auxiliary BN domains under
// `aux{d}.` keys that a clean-only save leaves out.
import { dispose, tidy } from '../memory.js';
import { StateDictError, checkModule, type LoadReport, type LoadStateDictOptions, type Module } from '../nn/module.js';
import { optionsArg, pathArg } from '../args.js';
import { loadSafetensors, saveSafetensors, type LoadOptions, type SaveOptions } from './safetensors.js';
import { cast as castKernel } from '../kernels.js';

export interface SaveModelOptions extends SaveOptions {
  /** Write the auxiliary BN domains (default true); false keeps only what inference needs. */
  auxiliary?: boolean;
}

export function saveModel(file: string, model: Module, options?: SaveModelOptions): void {
  pathArg(file, 'saveModel', 'file');
  checkModule(model, 'saveModel');
  const opts = optionsArg(options, 'saveModel');
  const { auxiliary, ...save } = opts;
  tidy(() => saveSafetensors(file, model.stateDict({ auxiliary: auxiliary ?? true }), save));
}

export interface LoadModelOptions extends LoadStateDictOptions, Omit<LoadOptions, 'device' | 'dtype'> {}

// PyTorch's BN keeps a step counter that momentum-style BN has no use for.
const IGNORED = /(^|\.)num_batches_tracked$/;

/** Loads a file into `model` (on the model's device and dtype). timm checkpoints need
 * `layout: 'oihw'`; a checkpoint without auxiliary domains needs `auxiliary: 'skip'` or 'fromClean'. */
export function loadModel(file: string, model: Module, options?: LoadModelOptions): LoadReport {
  pathArg(file, 'loadModel', 'file');
  checkModule(model, 'loadModel');
  const opts = optionsArg(options, 'loadModel');
  const first = model.parameters()[0];
  const state = loadSafetensors(file, { layout: opts.layout, device: first?.device, dtype: first?.dtype === 'f64' ? 'f64' : undefined });
  try {
    for (const k of Object.keys(state)) if (IGNORED.test(k)) { state[k].dispose(); delete state[k]; }
    // BF16/F16 weights (a half-precision export) fill an f32 or f64 model as they always did:
    // widened exactly to the model's dtype.
    const wide = first?.dtype === 'f64' ? 'f64' : 'f32';
    for (const k of Object.keys(state)) {
      const t = state[k];
      if ((t.dtype === 'bf16' || t.dtype === 'f16') && first?.dtype !== t.dtype) { state[k] = castKernel(t, wide); t.dispose(); }
    }
    return model.loadStateDict(state, opts);
  } catch (e) {
    // The file is what does not fit: name it, keeping the code and the report.
    if (e instanceof StateDictError) throw new StateDictError(e.code as 'ERR_SHAPE' | 'ERR_ARG', `loadModel: ${file}: ${e.message}`, e.report);
    throw e;
  } finally {
    dispose(state);
  }
}
