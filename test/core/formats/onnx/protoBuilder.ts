/**
 * A tiny protobuf writer for ONNX test models. Hand-written rather than onnx-proto so tests can also
 * write what generated encoders never do: unpacked repeated fields, odd field orders, bad lengths.
 */
export type Bytes = Uint8Array;

export function cat(...parts: Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function varint(value: number | bigint): Bytes {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return Uint8Array.from(out);
}

export const tag = (field: number, wire: number) => varint((field << 3) | wire);
/** A VARINT field. */
export const vint = (field: number, value: number | bigint) => cat(tag(field, 0), varint(value));
/** A LEN field holding `parts`. */
export const len = (field: number, ...parts: Bytes[]) => {
  const payload = cat(...parts);
  return cat(tag(field, 2), varint(payload.length), payload);
};
export const str = (field: number, text: string) => len(field, new TextEncoder().encode(text));
export const f32 = (field: number, value: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, value, true);
  return cat(tag(field, 5), b);
};

export function f32Bytes(values: number[]): Bytes {
  return new Uint8Array(Float32Array.from(values).buffer);
}

// ONNX messages (field numbers: onnx/onnx.proto).

export interface TensorSpec {
  name: string;
  dataType: number;
  dims: number[];
  raw?: Bytes;
  /** Extra encoded TensorProto fields: typed data, external_data, data_location. */
  fields?: Bytes[];
}

export function tensor(spec: TensorSpec): Bytes {
  return cat(
    len(1, ...spec.dims.map((d) => varint(d))),
    vint(2, spec.dataType),
    str(8, spec.name),
    ...(spec.raw ? [len(9, spec.raw)] : []),
    ...(spec.fields ?? []),
  );
}

export function externalData(entries: Record<string, string>): Bytes[] {
  return [...Object.entries(entries).map(([k, v]) => len(13, str(1, k), str(2, v))), vint(14, 1)];
}

export interface NodeSpec {
  op: string;
  name?: string;
  inputs?: string[];
  outputs?: string[];
  /** Graph-valued attributes: `g` for one graph, `graphs` for a list. */
  subgraph?: Bytes;
  subgraphs?: Bytes[];
}

export function node(spec: NodeSpec): Bytes {
  const attributes: Bytes[] = [];
  if (spec.subgraph) {
    attributes.push(len(5, str(1, 'then_branch'), vint(20, 5), len(6, spec.subgraph)));
  }
  if (spec.subgraphs) {
    attributes.push(
      len(5, str(1, 'bodies'), vint(20, 10), ...spec.subgraphs.map((g) => len(11, g))),
    );
  }
  return cat(
    ...(spec.inputs ?? []).map((i) => str(1, i)),
    ...(spec.outputs ?? []).map((o) => str(2, o)),
    ...(spec.name === undefined ? [] : [str(3, spec.name)]),
    str(4, spec.op),
    ...attributes,
  );
}

export function graph(parts: { nodes?: Bytes[]; initializers?: Bytes[]; name?: string }): Bytes {
  return cat(
    ...(parts.nodes ?? []).map((n) => len(1, n)),
    str(2, parts.name ?? 'g'),
    ...(parts.initializers ?? []).map((t) => len(5, t)),
  );
}

export function model(graphBytes: Bytes, extra: Bytes[] = []): Bytes {
  return cat(vint(1, 8), str(2, 'test'), len(7, graphBytes), len(8, vint(2, 17)), ...extra);
}
