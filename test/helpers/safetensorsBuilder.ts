/**
 * Writes safetensors bytes for tests: valid files from tensor lists, and hostile ones from a raw header
 * text and a data length, so each validation rule can be broken on purpose.
 */
export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
  data?: Uint8Array;
}

const BYTES: Record<string, number> = {
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
};

export function bytesFor(dtype: string, shape: number[]): number {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'F4') return n / 2;
  if (dtype.startsWith('F6')) return (n * 6) / 8;
  return n * (BYTES[dtype] ?? 1);
}

/** A complete file: length prefix, header, data. `pad` adds trailing spaces to the header. */
export function rawFile(
  headerText: string,
  dataLength: number,
  lengthOverride?: bigint,
): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(header.length), true);
  out.set(header, 8);
  return out;
}

export function buildSafetensors(
  tensors: TensorSpec[],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const t of tensors) {
    const size = t.data?.length ?? bytesFor(t.dtype, t.shape);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    chunks.push(t.data ?? new Uint8Array(size));
    offset += size;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const file = rawFile(text, offset);
  let at = 8 + new TextEncoder().encode(text).length;
  for (const c of chunks) {
    file.set(c, at);
    at += c.length;
  }
  return file;
}

export function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return out;
}
