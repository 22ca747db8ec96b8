// A small builder of ONNX graphs: named initializers (f32, or f16 widened by a Cast node) and
// nodes whose outputs are named after the layer that makes them, so an exported graph reads like
// the module tree it came from.
import { AdvpropError } from '../errors.js';
import { tensor } from '../creation.js';
import { cast } from '../kernels.js';
import { halfBits } from '../tensor.js';
import { tidy } from '../memory.js';
import { ATTR_TYPE, ONNX_DTYPE, type OnnxAttribute, type OnnxDim, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx_proto.js';

export type AttrValue = number | string | readonly number[] | { float: number };

function attribute(name: string, v: AttrValue): OnnxAttribute {
  if (typeof v === 'string') return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return { name, type: ATTR_TYPE.INT, i: v };
  if (Array.isArray(v)) return { name, type: ATTR_TYPE.INTS, ints: [...v] };
  return { name, type: ATTR_TYPE.FLOAT, f: (v as { float: number }).float };
}

/** Little-endian bytes of a typed array (raw_data is little-endian whatever the host). */
function leBytes(a: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  if (a instanceof Float32Array) a.forEach((x, i) => dv.setFloat32(4 * i, x, true));
  else if (a instanceof Uint16Array) a.forEach((x, i) => dv.setUint16(2 * i, x, true));
  else a.forEach((x, i) => dv.setBigInt64(8 * i, x, true));
  return out;
}

/** f32 values rounded to f16 bits by our own cast kernel (round to nearest even, as everywhere). */
function toHalfBits(values: Float32Array): Uint16Array {
  return tidy(() => halfBits(cast(tensor(values, [values.length], { dtype: 'f32', device: 'cpu' }), 'f16')));
}

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly names = new Set<string>();

  constructor(readonly weights: 'f32' | 'f16') {}

  /** `base`, or `base_2`, `base_3`... : every value of a graph has its own name. */
  private fresh(base: string): string {
    let n = base;
    for (let i = 2; this.names.has(n); i++) n = `${base}_${i}`;
    this.names.add(n);
    return n;
  }

  /** A graph input's name, reserved. */
  input(name: string): string {
    if (this.names.has(name)) throw new AdvpropError('ERR_INTERNAL', `exportOnnx: value ${name} defined twice`);
    this.names.add(name);
    return name;
  }

  /** A float constant. In an f16 export it is stored as f16 and widened by a Cast node, so the
   * graph computes in f32 on every runtime while the file holds half the bytes. */
  weight(name: string, values: ArrayLike<number>, dims: readonly number[]): string {
    const f32 = Float32Array.from(values);
    if (this.weights === 'f32') return this.constant(name, f32, dims);
    const half = this.fresh(`${name}.f16`);
    this.initializers.push({ name: half, dims: [...dims], data_type: ONNX_DTYPE.FLOAT16, raw_data: leBytes(toHalfBits(f32)) });
    return this.node('Cast', [half], name, { to: ONNX_DTYPE.FLOAT });
  }

  /** An f32 constant kept in f32 whatever the export's weights (normalisation constants). */
  constant(name: string, values: Float32Array, dims: readonly number[]): string {
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims: [...dims], data_type: ONNX_DTYPE.FLOAT, raw_data: leBytes(values) });
    return n;
  }

  /** An int64 constant (shapes for Reshape). */
  int64(name: string, values: readonly number[]): string {
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims: [values.length], data_type: ONNX_DTYPE.INT64, raw_data: leBytes(BigInt64Array.from(values.map(BigInt))) });
    return n;
  }

  /** Adds a node with one output named `out` (made unique) and returns that name. */
  node(op: string, inputs: readonly string[], out: string, attrs: Record<string, AttrValue> = {}): string {
    const o = this.fresh(out);
    this.nodes.push({
      name: o, op_type: op, input: [...inputs], output: [o],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return o;
  }
}

/** A float tensor's value info with fixed or symbolic dims. */
export function valueInfo(name: string, dims: readonly (number | string)[], doc?: string): OnnxValueInfo {
  const dim: OnnxDim[] = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: ONNX_DTYPE.FLOAT, shape: { dim } } }, ...(doc ? { doc_string: doc } : {}) };
}
