import { GgufValueType } from '../../../../src/core/formats/gguf/valueTypes.js';

/** A KV pair to write. Arrays give `subType`; numbers for 64-bit types may be bigints. */
export interface KvSpec {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: unknown;
  readonly subType?: GgufValueType;
}

export interface TensorSpec {
  readonly name: string;
  /** ggml order: ne[0] is the fastest-moving dimension. */
  readonly ne: readonly (number | bigint)[];
  readonly type: number;
  /** Relative to the data section; defaults to packed in order at the alignment. */
  readonly offset?: bigint;
  readonly data?: Uint8Array;
}

export interface GgufSpec {
  readonly version?: 1 | 2 | 3;
  readonly bigEndian?: boolean;
  readonly alignment?: number;
  readonly kvs?: readonly KvSpec[];
  readonly tensors?: readonly TensorSpec[];
  /** Bytes of data section (zeros where no tensor data is given); defaults to the end of the last data. */
  readonly dataBytes?: number;
}

/** Writes GGUF files for tests: valid ones in every variant, or with a hand-made flaw. */
export function buildGguf(spec: GgufSpec): {
  bytes: Uint8Array;
  dataStart: number;
  tensorInfoStart: number;
} {
  const version = spec.version ?? 3;
  const le = !spec.bigEndian;
  const w = new Writer(le, version);
  w.raw(new Uint8Array([0x47, 0x47, 0x55, 0x46]));
  w.u32(version);
  const tensors = spec.tensors ?? [];
  const kvs = spec.kvs ?? [];
  w.size(BigInt(tensors.length));
  w.size(BigInt(kvs.length));
  for (const kv of kvs) {
    w.string(kv.key);
    w.u32(kv.type);
    w.value(kv.type, kv.value, kv.subType);
  }
  const alignment = spec.alignment ?? 32;
  const tensorInfoStart = w.length;
  let next = 0n;
  const placed: { offset: bigint; data?: Uint8Array }[] = [];
  for (const t of tensors) {
    w.string(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.size(BigInt(d));
    w.u32(t.type);
    const offset = t.offset ?? next;
    w.u64(offset);
    const length = BigInt(t.data?.byteLength ?? 0);
    next = ((offset + length + BigInt(alignment) - 1n) / BigInt(alignment)) * BigInt(alignment);
    placed.push({ offset, data: t.data });
  }
  const headerEnd = w.length;
  const dataStart = Math.ceil(headerEnd / alignment) * alignment;
  const dataEnd = placed.reduce(
    (end, p) => Math.max(end, Number(p.offset) + (p.data?.length ?? 0)),
    0,
  );
  const bytes = new Uint8Array(dataStart + (spec.dataBytes ?? dataEnd));
  bytes.set(w.bytes(), 0);
  for (const p of placed) if (p.data) bytes.set(p.data, dataStart + Number(p.offset));
  return { bytes, dataStart, tensorInfoStart };
}

class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;
  constructor(
    private readonly le: boolean,
    private readonly version: number,
  ) {}

  raw(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.byteLength;
  }
  private fixed(n: number, set: (dv: DataView) => void): void {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.raw(b);
  }
  u32(v: number): void {
    this.fixed(4, (dv) => dv.setUint32(0, v, this.le));
  }
  u64(v: bigint): void {
    this.fixed(8, (dv) => dv.setBigUint64(0, v, this.le));
  }
  /** Counts and lengths: u32 in version 1, u64 after. */
  size(v: bigint): void {
    if (this.version === 1) this.u32(Number(v));
    else this.u64(v);
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.size(BigInt(b.byteLength));
    this.raw(b);
  }
  value(type: GgufValueType, v: unknown, subType?: GgufValueType): void {
    const le = this.le;
    switch (type) {
      case GgufValueType.UINT8:
        return this.fixed(1, (dv) => dv.setUint8(0, v as number));
      case GgufValueType.INT8:
        return this.fixed(1, (dv) => dv.setInt8(0, v as number));
      case GgufValueType.UINT16:
        return this.fixed(2, (dv) => dv.setUint16(0, v as number, le));
      case GgufValueType.INT16:
        return this.fixed(2, (dv) => dv.setInt16(0, v as number, le));
      case GgufValueType.UINT32:
        return this.fixed(4, (dv) => dv.setUint32(0, v as number, le));
      case GgufValueType.INT32:
        return this.fixed(4, (dv) => dv.setInt32(0, v as number, le));
      case GgufValueType.FLOAT32:
        return this.fixed(4, (dv) => dv.setFloat32(0, v as number, le));
      case GgufValueType.BOOL:
        return this.fixed(1, (dv) => dv.setUint8(0, v ? 1 : 0));
      case GgufValueType.STRING:
        return this.string(v as string);
      case GgufValueType.UINT64:
        return this.fixed(8, (dv) => dv.setBigUint64(0, BigInt(v as number), le));
      case GgufValueType.INT64:
        return this.fixed(8, (dv) => dv.setBigInt64(0, BigInt(v as number), le));
      case GgufValueType.FLOAT64:
        return this.fixed(8, (dv) => dv.setFloat64(0, v as number, le));
      case GgufValueType.ARRAY: {
        const items = v as unknown[];
        const element = subType ?? GgufValueType.UINT8;
        this.u32(element);
        this.size(BigInt(items.length));
        for (const item of items) this.value(element, item, GgufValueType.UINT8);
        return;
      }
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

export function f32Bytes(values: readonly number[], littleEndian = true): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, littleEndian));
  return b;
}

export const ARCH_LLAMA: KvSpec = {
  key: 'general.architecture',
  type: GgufValueType.STRING,
  value: 'llama',
};
