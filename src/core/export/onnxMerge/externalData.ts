/**
 * Points a model's external-data references at new files: every TensorProto whose external_data
 * names a `location` gets the new location and offset. The walk covers the graph's initializers,
 * sparse initializers and node attributes (Constant values, If/Loop subgraphs), at any depth.
 */
import {
  WIRE_LEN,
  concatBytes,
  fieldString,
  fieldsOf,
  lenField,
  rebuildMessage,
  type WireField,
} from './protoWire.js';

type Kind = 'model' | 'graph' | 'node' | 'attribute' | 'sparse' | 'tensor';

// onnx/onnx.proto field numbers of the messages that can hold a TensorProto.
const CHILDREN: Record<Exclude<Kind, 'tensor'>, Readonly<Partial<Record<number, Kind>>>> = {
  model: { 7: 'graph' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  sparse: { 1: 'tensor', 2: 'tensor' },
};
const TENSOR_EXTERNAL_DATA = 13;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

/** Where a tensor's bytes move to. */
export interface Relocation {
  readonly location: string;
  readonly offset: number;
}

export type Relocate = (location: string, offset: number) => Relocation | null;

export interface RelocatedModel {
  readonly bytes: Uint8Array;
  /** Tensors whose external_data was rewritten. */
  readonly tensors: number;
}

function entry(key: string, value: string): Uint8Array {
  return lenField(
    TENSOR_EXTERNAL_DATA,
    concatBytes([lenField(ENTRY_KEY, key), lenField(ENTRY_VALUE, value)]),
  );
}

function readEntry(buf: Uint8Array, f: WireField): { key: string; value: string } {
  let key = '';
  let value = '';
  for (const e of fieldsOf(buf, f.payload, f.end)) {
    if (e.wire !== WIRE_LEN) continue;
    if (e.number === ENTRY_KEY) key = fieldString(buf, e);
    else if (e.number === ENTRY_VALUE) value = fieldString(buf, e);
  }
  return { key, value };
}

function rewriteTensor(
  buf: Uint8Array,
  start: number,
  end: number,
  relocate: Relocate,
  count: { n: number },
): Uint8Array | null {
  const entries = fieldsOf(buf, start, end)
    .filter((f) => f.number === TENSOR_EXTERNAL_DATA && f.wire === WIRE_LEN)
    .map((f) => ({ f, ...readEntry(buf, f) }));
  const location = entries.find((e) => e.key === 'location')?.value;
  if (location === undefined) return null;
  const offsetEntry = entries.find((e) => e.key === 'offset');
  const to = relocate(location, Number(offsetEntry?.value ?? '0'));
  if (!to) return null;
  count.n++;
  // An absent offset means 0: add one when the tensor moves elsewhere.
  const extra = !offsetEntry && to.offset !== 0 ? [entry('offset', String(to.offset))] : [];
  return rebuildMessage(
    buf,
    start,
    end,
    (f) => {
      const e = entries.find((r) => r.f.start === f.start);
      if (e?.key === 'location') return entry('location', to.location);
      if (e?.key === 'offset') return entry('offset', String(to.offset));
      return null;
    },
    extra,
  );
}

function rewrite(
  buf: Uint8Array,
  start: number,
  end: number,
  kind: Kind,
  relocate: Relocate,
  count: { n: number },
): Uint8Array | null {
  if (kind === 'tensor') return rewriteTensor(buf, start, end, relocate, count);
  const children = CHILDREN[kind];
  return rebuildMessage(buf, start, end, (f) => {
    const child = f.wire === WIRE_LEN ? children[f.number] : undefined;
    if (!child) return null;
    const inner = rewrite(buf, f.payload, f.end, child, relocate, count);
    return inner ? lenField(f.number, inner) : null;
  });
}

/** The ModelProto with every external reference that `relocate` moves rewritten. */
export function relocateExternalData(model: Uint8Array, relocate: Relocate): RelocatedModel {
  const count = { n: 0 };
  const bytes = rewrite(model, 0, model.length, 'model', relocate, count);
  return { bytes: bytes ?? model, tensors: count.n };
}
