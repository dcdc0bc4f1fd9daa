/**
 * The base model with an unmerged LoRA branch on every patched MatMul whose A, B and scale are graph
 * inputs (`lora.<i>.A` [r, in], `lora.<i>.B` [out, r], `lora.<i>.scale` [1]), as Olive's
 * ExtractAdapters(make_inputs=true) does and as ORT's C API feeds adapters (onnxruntime.md §9). One
 * session then runs any adapter of the same shapes by changing feeds.
 *
 *   Y = MatMul(X, W)   becomes   Y_base = MatMul(X, W)
 *                                Y = Add(Y_base, Mul(MatMul(MatMul(X, Aᵀ), Bᵀ), s))
 *
 * The edit is made on the protobuf wire: everything else in the file is copied byte for byte.
 */
import {
  WIRE_LEN,
  WIRE_VARINT,
  concatBytes,
  fieldString,
  fieldsOf,
  lenField,
  rebuildMessage,
  varint,
  type WireField,
} from '../../export/onnxMerge/protoWire.js';

export interface LoraBranch {
  /** The MatMul weight initializer, stored [in, out]. */
  readonly initializer: string;
  readonly rank: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly elemType: 'float32' | 'float16';
}

export interface LoraInputModel {
  readonly bytes: Uint8Array;
  /** Input names per branch, in the order of the branches given. */
  readonly inputs: readonly { readonly a: string; readonly b: string; readonly scale: string }[];
}

// onnx/onnx.proto field numbers.
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, input: 11 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
const ATTR = { name: 1, ints: 8, type: 20 };
const ATTR_INTS = 7;
const ELEM_TYPE = { float32: 1, float16: 10 } as const;

interface NodeFacts {
  readonly opType: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly outputFields: WireField[];
}

function nodeFacts(buf: Uint8Array, f: WireField): NodeFacts {
  const facts: NodeFacts = { opType: '', inputs: [], outputs: [], outputFields: [] };
  let opType = '';
  for (const g of fieldsOf(buf, f.payload, f.end)) {
    if (g.wire !== WIRE_LEN) continue;
    if (g.number === NODE.input) facts.inputs.push(fieldString(buf, g));
    else if (g.number === NODE.output) {
      facts.outputs.push(fieldString(buf, g));
      facts.outputFields.push(g);
    } else if (g.number === NODE.opType) opType = fieldString(buf, g);
  }
  return { ...facts, opType };
}

function node(
  opType: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attrs: Uint8Array[] = [],
): Uint8Array {
  return lenField(
    GRAPH.node,
    concatBytes([
      ...inputs.map((i) => lenField(NODE.input, i)),
      ...outputs.map((o) => lenField(NODE.output, o)),
      lenField(NODE.name, name),
      lenField(NODE.opType, opType),
      ...attrs,
    ]),
  );
}

function intsAttribute(name: string, values: number[]): Uint8Array {
  return lenField(
    NODE.attribute,
    concatBytes([
      lenField(ATTR.name, name),
      ...values.flatMap((v) => [varint(ATTR.ints * 8 + WIRE_VARINT), varint(v)]),
      varint(ATTR.type * 8 + WIRE_VARINT),
      varint(ATTR_INTS),
    ]),
  );
}

/** ValueInfoProto{name, type{tensor_type{elem_type, shape{dim{dim_value}…}}}} as a graph input. */
function graphInput(name: string, elemType: number, dims: number[]): Uint8Array {
  const shape = concatBytes(
    dims.map((d) => lenField(1, concatBytes([varint(1 * 8 + WIRE_VARINT), varint(d)]))),
  );
  const tensorType = concatBytes([
    varint(1 * 8 + WIRE_VARINT),
    varint(elemType),
    lenField(2, shape),
  ]);
  return lenField(
    GRAPH.input,
    concatBytes([lenField(1, name), lenField(2, lenField(1, tensorType))]),
  );
}

/**
 * Adds the branches, or says why it cannot: a weight not read as the second input of a top-level
 * MatMul, or read by anything else.
 */
export function buildLoraInputModel(
  model: Uint8Array,
  branches: readonly LoraBranch[],
  consumersOf: (initializer: string) => readonly string[],
): LoraInputModel | string {
  const index = new Map(branches.map((b, i) => [b.initializer, i]));
  for (const b of branches) {
    const ops = consumersOf(b.initializer);
    const other = ops.find((op) => op !== 'MatMul');
    if (ops.length === 0 || other)
      return `${b.initializer} is read by ${other ?? 'no node'}, not only by MatMul`;
  }
  const inputs = branches.map((_, i) => ({
    a: `lora.${i}.A`,
    b: `lora.${i}.B`,
    scale: `lora.${i}.scale`,
  }));
  const injected = new Array<number>(branches.length).fill(0);
  const transposed = new Set<number>();

  const graphField = fieldsOf(model).find((f) => f.number === MODEL_GRAPH && f.wire === WIRE_LEN);
  if (!graphField) return 'the model has no graph';
  const graph = rebuildMessage(
    model,
    graphField.payload,
    graphField.end,
    (f) => {
      if (f.number !== GRAPH.node || f.wire !== WIRE_LEN) return null;
      const n = nodeFacts(model, f);
      const i = n.opType === 'MatMul' ? index.get(n.inputs[1] ?? '') : undefined;
      const out = n.outputFields[0];
      if (i === undefined || !out || n.inputs[0] === undefined) return null;
      const names = inputs[i] as (typeof inputs)[number];
      const y = n.outputs[0] as string;
      const p = `lora.${i}.${injected[i]}`;
      injected[i] = (injected[i] as number) + 1;
      const yBase = `${p}.base`;
      const renamed = rebuildMessage(model, f.payload, f.end, (g) =>
        g.start === out.start ? lenField(NODE.output, yBase) : null,
      ) as Uint8Array;
      const added: Uint8Array[] = [];
      if (!transposed.has(i)) {
        transposed.add(i);
        added.push(
          node(
            'Transpose',
            `lora.${i}.A.T`,
            [names.a],
            [`lora.${i}.At`],
            [intsAttribute('perm', [1, 0])],
          ),
          node(
            'Transpose',
            `lora.${i}.B.T`,
            [names.b],
            [`lora.${i}.Bt`],
            [intsAttribute('perm', [1, 0])],
          ),
        );
      }
      added.push(
        node('MatMul', `${p}.down`, [n.inputs[0], `lora.${i}.At`], [`${p}.xa`]),
        node('MatMul', `${p}.up`, [`${p}.xa`, `lora.${i}.Bt`], [`${p}.xab`]),
        node('Mul', `${p}.scale`, [`${p}.xab`, names.scale], [`${p}.delta`]),
        node('Add', `${p}.add`, [yBase, `${p}.delta`], [y]),
      );
      return [lenField(GRAPH.node, renamed), ...added];
    },
    branches.flatMap((b, i) => {
      const names = inputs[i] as (typeof inputs)[number];
      const elem = ELEM_TYPE[b.elemType];
      return [
        graphInput(names.a, elem, [b.rank, b.inFeatures]),
        graphInput(names.b, elem, [b.outFeatures, b.rank]),
        graphInput(names.scale, elem, [1]),
      ];
    }),
  );
  const missing = branches.findIndex((_, i) => injected[i] === 0);
  if (missing >= 0)
    return `${branches[missing]?.initializer} is not the weight input of a top-level MatMul`;
  const bytes = rebuildMessage(model, 0, model.length, (f) =>
    f.start === graphField.start ? lenField(MODEL_GRAPH, graph as Uint8Array) : null,
  );
  return { bytes: bytes as Uint8Array, inputs };
}
