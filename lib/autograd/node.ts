// The tape: each recorded op output points at a Node holding its gradient rule, its inputs
// (as edges to producer nodes or to leaves) and the tensors the rule needs later. Saved tensors
// are separate native handles sharing storage (addon.share), so disposing or tidying the
// user's tensors never frees what a pending backward pass still reads.
import { addon, type NativeTensor } from '../native.js';
import { describeValue } from '../device.js';
import { AdvpropError } from '../errors.js';
import { checkTensor, isTensor, wrapHandle, type DType, type Tensor } from '../tensor.js';
import { isGradEnabled } from './mode.js';

/**
 * A gradient rule, written once for every backend. `dy` has the output's shape; `saved` are the
 * tensors passed to record() (null where none was saved); `needs[i]` says whether input i's
 * gradient is wanted. It returns one entry per input, the gradient in the input's shape and
 * dtype, and must return null wherever needs[i] is false without running any kernel for it.
 */
export type GradientRule = (
  dy: Tensor,
  saved: readonly (Tensor | null)[],
  needs: readonly boolean[],
) => readonly (Tensor | null)[];

/** Where an input's gradient goes: the node that produced it, or the leaf itself. */
export interface Edge {
  node: Node | null;
  leaf: Tensor | null;
}

export interface InputMeta {
  shape: readonly number[];
  dtype: DType;
  device: string;
}

let liveSaved = 0;
let nextNodeId = 1;
// A graph dropped without backward or tidy: the addon frees a handle's storage only when told
// (it keeps no GC finalizers, see binding/handle.h), so the saved handles are disposed here, as
// Tensor's registry does for forgotten tensors.
const unreleased = new FinalizationRegistry<NativeTensor[]>((handles) => {
  liveSaved -= handles.length;
  for (const h of handles) {
    try {
      addon.dispose(h);
    } catch {
      // Nothing useful can be done from a finalizer.
    }
  }
});

export function savedTensorCount(): number {
  return liveSaved;
}

export class Node {
  readonly id = nextNodeId++;
  /** null entries: inputs that do not require grad. */
  edges: (Edge | null)[];
  private saved: (NativeTensor | null)[];
  private rule: GradientRule | null;
  released = false;
  /** Made by the public autograd.record() for a custom op: a broken rule is the caller's error. */
  custom = false;

  constructor(
    readonly op: string,
    readonly inputNames: readonly string[],
    readonly inputs: readonly InputMeta[],
    readonly output: InputMeta,
    edges: (Edge | null)[],
    saved: (NativeTensor | null)[],
    rule: GradientRule,
  ) {
    this.edges = edges;
    this.saved = saved;
    this.rule = rule;
    const handles = saved.filter((h): h is NativeTensor => h !== null);
    liveSaved += handles.length;
    if (handles.length) unreleased.register(this, handles, this);
  }

  /** @internal Runs the rule on fresh Tensor wrappers of the saved handles (freed by the caller's tidy). */
  apply(dy: Tensor, needs: readonly boolean[]): readonly (Tensor | null)[] {
    if (this.released || !this.rule)
      throw new AdvpropError('ERR_ARG', `backward: the graph through '${this.op}' was already freed by an earlier backward pass; pass {retainGraph: true} to the first one to go through it twice`);
    const saved = this.saved.map((h) => (h ? wrapHandle(addon.share(h)) : null));
    return this.rule(dy, saved, needs);
  }

  /** Frees the saved tensors and drops the links so the rest of the graph can be collected. */
  release(): void {
    if (this.released) return;
    this.released = true;
    unreleased.unregister(this);
    for (const h of this.saved) {
      if (h) {
        liveSaved--;
        addon.dispose(h);
      }
    }
    this.saved = [];
    this.edges = [];
    this.rule = null;
  }
}

/**
 * Which inputs an op must record gradients for, or null when it records nothing (grad mode off
 * or no input requires grad). Ops call this before their forward kernel so they can skip saving
 * tensors no gradient will read.
 */
export function recordingNeeds(inputs: readonly Tensor[]): boolean[] | null {
  if (!Array.isArray(inputs)) throw new AdvpropError('ERR_ARG', `recordingNeeds: inputs must be an array of tensors, got ${describeValue(inputs)}`);
  if (!isGradEnabled()) return null;
  let any = false;
  const needs = inputs.map((t, i) => {
    if (!isTensor(t)) throw new AdvpropError('ERR_ARG', `recordingNeeds: inputs[${i}] must be a Tensor, got ${describeValue(t)}`);
    const r = t.requiresGrad;
    any ||= r;
    return r;
  });
  return any ? needs : null;
}

function meta(t: Tensor): InputMeta {
  return { shape: t.shape, dtype: t.dtype, device: t.device };
}

/** Attaches a node producing `out`. `saved` tensors are shared now, before the caller can free them. */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  saved: readonly (Tensor | null)[],
  rule: GradientRule,
  inputNames?: readonly string[],
): Tensor {
  // Public for custom ops: a bad argument here would otherwise surface in a later backward().
  checkTensor(out, 'record', 'out');
  if (typeof op !== 'string') throw new AdvpropError('ERR_ARG', `record: op must be a string, got ${describeValue(op)}`);
  if (!Array.isArray(inputs)) throw new AdvpropError('ERR_ARG', `record: inputs must be an array of tensors, got ${describeValue(inputs)}`);
  inputs.forEach((t, i) => checkTensor(t, 'record', `inputs[${i}]`));
  if (!Array.isArray(saved)) throw new AdvpropError('ERR_ARG', `record: saved must be an array of tensors or nulls, got ${describeValue(saved)}`);
  saved.forEach((t, i) => { if (t !== null) checkTensor(t, 'record', `saved[${i}]`); });
  if (typeof rule !== 'function') throw new AdvpropError('ERR_ARG', `record: rule must be a function, got ${describeValue(rule)}`);
  if (inputNames !== undefined && (!Array.isArray(inputNames) || inputNames.length !== inputs.length || inputNames.some((n) => typeof n !== 'string')))
    throw new AdvpropError('ERR_ARG', `record: inputNames must be ${inputs.length} strings, got ${describeValue(inputNames)}`);
  const edges = inputs.map((t): Edge | null => {
    if (!t.requiresGrad) return null;
    return t._node ? { node: t._node, leaf: null } : { node: null, leaf: t };
  });
  const handles = saved.map((t) => (t ? addon.share(t._handle(op)) : null));
  const names = inputNames ?? inputs.map((_, i) => String(i));
  out._setNode(new Node(op, names, inputs.map(meta), meta(out), edges, handles, rule));
  return out;
}

/** autograd.record() as exported: a node whose rule the caller wrote (see Node.custom). */
export function recordCustom(...args: Parameters<typeof record>): Tensor {
  const out = record(...args);
  out._node!.custom = true;
  return out;
}

/**
 * Releases the nodes of `freed` tensors (disposed by a closing tidy) that no surviving tensor
 * of the same scope can still reach. Nodes made outside the scope cannot point into it, so the
 * search stops at them.
 */
export function releaseUnreachable(freed: readonly Tensor[], live: readonly Tensor[]): void {
  const candidates = new Set<Node>();
  for (const t of freed) if (t._node && !t._node.released) candidates.add(t._node);
  if (candidates.size === 0) return;
  const stack: Node[] = [];
  const visited = new Set<Node>();
  for (const t of live) if (t._node && !visited.has(t._node)) { visited.add(t._node); stack.push(t._node); }
  while (stack.length && candidates.size) {
    const n = stack.pop()!;
    candidates.delete(n);
    for (const e of n.edges) {
      const next = e?.node;
      if (next && !visited.has(next) && candidates.has(next)) {
        visited.add(next);
        stack.push(next);
      }
    }
  }
  for (const n of candidates) n.release();
}
