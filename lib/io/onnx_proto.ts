// The part of the ONNX file format (a protobuf ModelProto) that our export writes, described with
// protobufjs's reflection API. The messages, their fields and the field numbers follow ONNX's
// schema (onnx/onnx.proto, IR version 8); only the fields we write or read back are declared, and
// a decoder skips any other field, so a file written by another tool still decodes.
import protobuf from 'protobufjs/light.js';
import { AdvpropError } from '../errors.js';

/** TensorProto.DataType values we use. */
export const ONNX_DTYPE = { FLOAT: 1, INT64: 7, FLOAT16: 10 } as const;
/** AttributeProto.AttributeType values we use. */
export const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

// The schema as protobufjs JSON: { message: { fields: { name: { type, id, rule? } } } }.
// Repeated numbers are written packed (proto3 style); protobuf parsers accept both encodings.
const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            data_type: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            raw_data: { type: 'bytes', id: 9 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            op_type: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        Dimension: {
          oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
          fields: { dim_value: { type: 'int64', id: 1 }, dim_param: { type: 'string', id: 2 } },
        },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        TensorTypeProto: { fields: { elem_type: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TypeProto: { fields: { tensor_type: { type: 'TensorTypeProto', id: 1 } } },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 }, doc_string: { type: 'string', id: 3 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            doc_string: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        ModelProto: {
          fields: {
            ir_version: { type: 'int64', id: 1 },
            producer_name: { type: 'string', id: 2 },
            producer_version: { type: 'string', id: 3 },
            doc_string: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opset_import: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

// The plain objects that encode to and decode from the messages above (int64 as numbers: every
// size and attribute we write is far below 2^53).
export interface OnnxTensor { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }
export interface OnnxAttribute { name: string; type: number; f?: number; i?: number; s?: Uint8Array; floats?: number[]; ints?: number[] }
export interface OnnxNode { name: string; op_type: string; input: string[]; output: string[]; attribute: OnnxAttribute[]; domain?: string }
export type OnnxDim = { dim_value: number } | { dim_param: string };
export interface OnnxValueInfo { name: string; type: { tensor_type: { elem_type: number; shape: { dim: OnnxDim[] } } }; doc_string?: string }
export interface OnnxGraph { name: string; node: OnnxNode[]; initializer: OnnxTensor[]; input: OnnxValueInfo[]; output: OnnxValueInfo[]; doc_string?: string }
export interface OnnxModel {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  graph: OnnxGraph;
  opset_import: { domain: string; version: number }[];
  metadata_props: { key: string; value: string }[];
}

let modelType: protobuf.Type | null = null;
function model(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

/** The bytes of an .onnx file. */
export function encodeOnnx(m: OnnxModel): Uint8Array {
  const t = model();
  const err = t.verify(m);
  if (err) throw new AdvpropError('ERR_INTERNAL', `exportOnnx: the graph does not fit ONNX's schema: ${err}`);
  return t.encode(t.fromObject(m)).finish();
}

/** An .onnx file's model, with every field we declare (int64s as numbers, bytes as Uint8Array). */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) throw new AdvpropError('ERR_ARG', 'decodeOnnx: bytes must be a Buffer or Uint8Array');
  const t = model();
  try {
    const msg = t.decode(bytes);
    return t.toObject(msg, { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as unknown as OnnxModel;
  } catch (e) {
    throw new AdvpropError('ERR_FORMAT', `decodeOnnx: not an ONNX model: ${(e as Error).message}`, { cause: e });
  }
}
