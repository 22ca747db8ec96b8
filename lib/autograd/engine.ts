// The backward engine. It first finds which nodes lead to the wanted gradients (every leaf that
// requires grad for backward(), only the given inputs for grad()), then runs the rules of those
// nodes in reverse topological order, telling each which input gradients are needed. A rule is
// never asked for a gradient nobody needs, so e.g. an attack's grad(loss, [image]) runs no
// weight-gradient kernel.
import { AdvpropError } from '../errors.js';
import { optionsArg } from '../args.js';
import { describeValue } from '../device.js';
import { addon } from '../native.js';
import { addTensorMethods, checkTensor, FLOAT_DTYPES, isFloatDType, isTensor, wrapHandle, type Tensor } from '../tensor.js';
import { full } from '../creation.js';
import { tidy } from '../memory.js';
import { untrack } from '../tracking.js';
import * as k from '../kernels.js';
import { asBackward } from './mode.js';
import { countBackward } from './stats.js';
import type { Node } from './node.js';

export interface BackwardOptions {
  /** Keep saved tensors so a second backward pass can go through the same graph. */
  retainGraph?: boolean;
}

export interface GradOptions extends BackwardOptions {
  /** Return zeros for inputs fn does not use, instead of throwing ERR_ARG. */
  allowUnused?: boolean;
  /**
   * Called once for each input, as soon as its gradient is final (every node that feeds it has
   * run) while the backward may still be running: data parallel launches a gradient all-reduce
   * from here. `grad` holds the values grads[index] will hold (read it, do not dispose it);
   * `remaining` counts the backward's nodes not yet run. Inputs whose gradient is known only at
   * the end (unused ones with allowUnused, the output itself) are reported after the backward,
   * in index order.
   */
  onGradReady?: (index: number, grad: Tensor, remaining: number) => void;
}

/** Reports a leaf's or a target node's gradient once it is final (see GradOptions.onGradReady). */
type ReadyFn = (key: Tensor | Node, grad: Tensor, remaining: number) => void;

interface Targets {
  leaves: Set<Tensor>;
  nodes: Set<Node>;
}

interface RunResult {
  leafGrads: Map<Tensor, Tensor>;
  nodeGrads: Map<Node, Tensor>;
}

/** A second owner of g's storage, so two consumers can each dispose theirs. */
function alias(g: Tensor): Tensor {
  return wrapHandle(addon.share(g._handle('backward')));
}

function accumulate<K>(m: Map<K, Tensor>, key: K, g: Tensor): void {
  const prev = m.get(key);
  if (!prev) {
    m.set(key, g);
    return;
  }
  m.set(key, k.add(prev, g));
  prev.dispose();
  g.dispose();
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Nodes that lead to a target (or, with no targets, every node reachable from root). */
function neededNodes(root: Node, targets: Targets | null): Set<Node> {
  const order: Node[] = [];
  const seen = new Set<Node>([root]);
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    order.push(n);
    for (const e of n.edges) {
      if (e?.node && !seen.has(e.node)) {
        seen.add(e.node);
        stack.push(e.node);
      }
    }
  }
  if (!targets) return seen;
  // A node leads to a target if it is one, or an edge reaches a target leaf or a leading node.
  // Children come later in `order` than some parent, so iterate to a fixed point from the end.
  const leads = new Set<Node>();
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = order.length - 1; i >= 0; i--) {
      const n = order[i];
      if (leads.has(n)) continue;
      if (targets.nodes.has(n) || n.edges.some((e) => e && ((e.leaf && targets.leaves.has(e.leaf)) || (e.node && leads.has(e.node))))) {
        leads.add(n);
        changed = true;
      }
    }
  }
  return leads;
}

function edgeNeeded(e: { node: Node | null; leaf: Tensor | null } | null, needed: Set<Node>, targets: Targets | null): boolean {
  if (!e) return false;
  if (e.node) return needed.has(e.node);
  return targets ? targets.leaves.has(e.leaf!) : true;
}

function run(root: Node, dy0: Tensor, targets: Targets | null, retain: boolean, ready_?: ReadyFn): RunResult {
  const needed = neededNodes(root, targets);
  const result: RunResult = { leafGrads: new Map(), nodeGrads: new Map() };
  if (!needed.has(root)) {
    dy0.dispose();
    return result;
  }
  // Kahn's algorithm over the needed subgraph: a node runs once all its consumers have.
  const pendingConsumers = new Map<Node, number>();
  for (const n of needed)
    for (const e of n.edges)
      if (e?.node && needed.has(e.node)) pendingConsumers.set(e.node, (pendingConsumers.get(e.node) ?? 0) + 1);
  // With a ready hook: how many needed edges into each target leaf are still to run.
  const pendingEdges = new Map<Tensor, number>();
  if (ready_)
    for (const n of needed)
      for (const e of n.edges)
        if (e?.leaf && edgeNeeded(e, needed, targets)) pendingEdges.set(e.leaf, (pendingEdges.get(e.leaf) ?? 0) + 1);
  let remaining = needed.size;
  const grads = new Map<Node, Tensor>([[root, dy0]]);
  const ready: Node[] = [root];
  while (ready.length) {
    const node = ready.pop()!;
    const dy = grads.get(node);
    grads.delete(node);
    if (node.released) {
      dy?.dispose();
      throw new AdvpropError('ERR_ARG', `backward: the graph through '${node.op}' was already freed by an earlier backward pass; pass {retainGraph: true} to the first one to go through it twice`);
    }
    const needs = node.edges.map((e) => edgeNeeded(e, needed, targets));
    const children = node.edges.flatMap((e, i) => (e?.node && needs[i] ? [e.node] : []));
    const isTarget = targets?.nodes.has(node) ?? false;
    if (dy && isTarget) result.nodeGrads.set(node, needs.some(Boolean) ? alias(dy) : dy);
    if (dy && needs.some(Boolean)) {
      const inGrads = runRule(node, dy, needs);
      for (let i = 0; i < needs.length; i++) {
        const g = inGrads[i];
        if (!g) continue;
        const e = node.edges[i]!;
        if (e.node) accumulate(grads, e.node, g);
        else accumulate(result.leafGrads, e.leaf!, g);
      }
    } else if (dy && !isTarget) {
      dy.dispose();
    }
    remaining--;
    // Before release(), which drops the edges.
    if (ready_) {
      const g = isTarget ? result.nodeGrads.get(node) : undefined;
      if (g) ready_(node, g, remaining);
      for (let i = 0; i < needs.length; i++) {
        const leaf = node.edges[i]?.leaf;
        if (!needs[i] || !leaf) continue;
        const left = pendingEdges.get(leaf)! - 1;
        pendingEdges.set(leaf, left);
        const lg = left === 0 ? result.leafGrads.get(leaf) : undefined;
        if (lg) ready_(leaf, lg, remaining);
      }
    }
    if (!retain) node.release();
    for (const c of children) {
      const left = pendingConsumers.get(c)! - 1;
      pendingConsumers.set(c, left);
      if (left === 0) ready.push(c);
    }
  }
  for (const g of grads.values()) g.dispose();
  return result;
}

function runRule(node: Node, dy: Tensor, needs: readonly boolean[]): (Tensor | null)[] {
  const out = tidy(() => node.apply(dy, needs));
  // A rule of ours breaking its contract is a bug here; a custom op's rule is its author's.
  const code = node.custom ? 'ERR_ARG' : 'ERR_INTERNAL';
  if (!Array.isArray(out) || out.length !== needs.length)
    throw new AdvpropError(code, `gradient rule of '${node.op}' returned ${describeValue(out)} for ${needs.length} inputs`);
  const seen = new Set<Tensor>();
  const grads: (Tensor | null)[] = [];
  const computed: string[] = [];
  for (let i = 0; i < needs.length; i++) {
    let g = out[i] ?? null;
    if (g && !needs[i]) {
      throw new AdvpropError(code, `gradient rule of '${node.op}' computed the unneeded gradient of input '${node.inputNames[i]}'`);
    }
    if (g && !isTensor(g))
      throw new AdvpropError(code, `gradient rule of '${node.op}' returned ${describeValue(g)} for input '${node.inputNames[i]}', not a tensor`);
    if (g) {
      const want = node.inputs[i];
      if (!sameShape(g.shape, want.shape) || g.dtype !== want.dtype || g.device !== want.device)
        throw new AdvpropError(code, `gradient rule of '${node.op}' returned ${g.dtype} [${g.shape.join(', ')}] on ${g.device} for input '${node.inputNames[i]}' of ${want.dtype} [${want.shape.join(', ')}] on ${want.device}`);
      // The same tensor for two inputs (or dy passed through) gets a second handle, so every
      // gradient has exactly one owner.
      if (g === dy || seen.has(g)) g = alias(g);
      seen.add(g);
      computed.push(node.inputNames[i]);
    }
    grads.push(g);
  }
  countBackward(node.op, computed);
  dy.dispose();
  return grads;
}

function seedGrad(root: Tensor, gradOutput: Tensor | undefined, op: string): Tensor {
  if (gradOutput === undefined) {
    if (root.numel !== 1)
      throw new AdvpropError('ERR_SHAPE', `${op}: the output has shape [${root.shape.join(', ')}]; without an explicit gradient it must have one element`);
    return full(root.shape, 1, { dtype: root.dtype, device: root.device });
  }
  checkTensor(gradOutput, op, 'gradOutput');
  if (!sameShape(gradOutput.shape, root.shape) || gradOutput.dtype !== root.dtype || gradOutput.device !== root.device)
    throw new AdvpropError('ERR_SHAPE', `${op}: gradOutput ${gradOutput.dtype} [${gradOutput.shape.join(', ')}] on ${gradOutput.device} does not match the output ${root.dtype} [${root.shape.join(', ')}] on ${root.device}`);
  return alias(gradOutput);
}

/** Accumulates d(root)/d(leaf) into leaf.grad for every leaf that requires grad. */
export function backward(root: Tensor, gradOutput?: Tensor, opts?: BackwardOptions): void {
  const options = optionsArg(opts, 'backward');
  checkTensor(root, 'backward', 'tensor');
  if (!root.requiresGrad)
    throw new AdvpropError('ERR_ARG', 'backward: the tensor does not require grad (no input of its computation has requiresGrad, or it was computed under noGrad)');
  const leafGrads = tidy(() => {
    const dy = seedGrad(root, gradOutput, 'backward');
    if (!root._node) return new Map([[root, dy]]);
    return asBackward(() => run(root._node!, dy, null, options.retainGraph === true)).leafGrads;
  });
  for (const [leaf, g] of leafGrads) {
    untrack(g);
    if (leaf.isDisposed) {
      g.dispose();
    } else if (leaf.grad && !leaf.grad.isDisposed) {
      const sum = asBackward(() => k.add(leaf.grad!, g));
      untrack(sum);
      leaf.grad.dispose();
      g.dispose();
      leaf.grad = sum;
    } else {
      leaf.grad = g;
    }
  }
}

function gradImpl(fn: () => Tensor, inputs: readonly Tensor[], opts: GradOptions | undefined, keepValue: boolean): { value: Tensor | null; grads: Tensor[] } {
  const options = optionsArg(opts, 'grad');
  if (typeof fn !== 'function') throw new AdvpropError('ERR_ARG', `grad: fn must be a function, got ${describeValue(fn)}`);
  if (!Array.isArray(inputs)) throw new AdvpropError('ERR_ARG', `grad: inputs must be an array of tensors, got ${describeValue(inputs)}`);
  inputs.forEach((t, i) => {
    checkTensor(t, 'grad', `inputs[${i}]`);
    if (!isFloatDType(t.dtype)) throw new AdvpropError('ERR_DTYPE', `grad: inputs[${i}] is ${t.dtype}; gradients need a float dtype (${FLOAT_DTYPES.join(', ')})`);
  });
  return tidy(() => {
    // Leaves are watched for the duration of fn, so callers need not set requiresGrad on images.
    const watched = inputs.filter((t) => t.isLeaf && !t.requiresGrad);
    for (const t of watched) t.requiresGrad = true;
    let y: Tensor;
    try {
      y = fn();
    } finally {
      for (const t of watched) t.requiresGrad = false;
    }
    checkTensor(y, 'grad', 'fn()');
    const targets: Targets = { leaves: new Set(), nodes: new Set() };
    for (const t of inputs) {
      if (t._node) targets.nodes.add(t._node);
      else targets.leaves.add(t);
    }
    const hook = options.onGradReady;
    if (hook !== undefined && typeof hook !== 'function')
      throw new AdvpropError('ERR_ARG', `grad: onGradReady must be a function, got ${describeValue(hook)}`);
    // Each input index is reported once, the first time its leaf or node is final.
    const reported = new Set<number>();
    const report = (i: number, g: Tensor, remaining: number): void => {
      if (reported.has(i)) return;
      reported.add(i);
      hook!(i, g, remaining);
    };
    const indexOf = new Map<Tensor | Node, number[]>();
    if (hook) inputs.forEach((t, i) => { const key = t._node ?? t; indexOf.set(key, [...(indexOf.get(key) ?? []), i]); });
    const onReady: ReadyFn | undefined = hook && ((key, g, remaining) => {
      for (const i of indexOf.get(key) ?? []) report(i, g, remaining);
    });
    let res: RunResult = { leafGrads: new Map(), nodeGrads: new Map() };
    const dy = seedGrad(y, undefined, 'grad');
    if (y._node) res = asBackward(() => run(y._node!, dy, targets, options.retainGraph === true, onReady));
    else if (targets.leaves.has(y)) res.leafGrads.set(y, dy);
    else dy.dispose();
    const given = new Set<Tensor>();
    const grads = inputs.map((t, i) => {
      let g = t._node ? res.nodeGrads.get(t._node) : res.leafGrads.get(t);
      if (!g) {
        if (!options.allowUnused)
          throw new AdvpropError('ERR_ARG', `grad: inputs[${i}] (${t.dtype} [${t.shape.join(', ')}]) is not used by fn, so it has no gradient; pass {allowUnused: true} for zeros`);
        g = full(t.shape, 0, { dtype: t.dtype, device: t.device });
      }
      if (given.has(g)) g = alias(g);
      given.add(g);
      return g;
    });
    if (hook) grads.forEach((g, i) => report(i, g, 0));
    return { value: keepValue ? y : null, grads };
  });
}

/** Gradients of the scalar fn() with respect to `inputs` only; everything fn made is freed. */
export function grad(fn: () => Tensor, inputs: readonly Tensor[], options?: GradOptions): Tensor[] {
  return gradImpl(fn, inputs, options, false).grads;
}

/** Like grad(), and also returns fn()'s value. */
export function valueAndGrad(fn: () => Tensor, inputs: readonly Tensor[], options?: GradOptions): { value: Tensor; grads: Tensor[] } {
  const r = gradImpl(fn, inputs, options, true);
  return { value: r.value!, grads: r.grads };
}

declare module '../tensor.js' {
  interface Tensor {
    /** Accumulates d(this)/d(leaf) into leaf.grad for every leaf that requires grad (see backward()). */
    backward(gradOutput?: Tensor, options?: BackwardOptions): void;
  }
}

addTensorMethods({
  backward(gradOutput?: Tensor, options?: BackwardOptions): void {
    backward(this, gradOutput, options);
  },
});
