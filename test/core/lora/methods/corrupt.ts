/** Writes a NaN into the first trained adapter tensor of a safetensors file (in place, a test copy). */
import { readFileSync, writeFileSync } from 'node:fs';

const NAN: Readonly<Record<string, (b: Buffer, at: number) => void>> = {
  F32: (b, at) => b.writeFloatLE(Number.NaN, at),
  F64: (b, at) => b.writeDoubleLE(Number.NaN, at),
  F16: (b, at) => b.writeUInt16LE(0x7e00, at),
  BF16: (b, at) => b.writeUInt16LE(0x7fc0, at),
};

/** Returns the name of the tensor it corrupted: the first float tensor of a module (not a global). */
export function corruptFirstValue(file: string): string {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  const names = Object.keys(header)
    .filter((k) => k !== '__metadata__' && NAN[header[k]?.dtype ?? ''])
    .filter((k) => /\.(layers|h|blocks)\.\d+\./.test(k))
    .sort();
  const name = names[0];
  if (!name) throw new Error(`${file}: no float module tensor to corrupt`);
  const t = header[name] as { dtype: string; data_offsets: [number, number] };
  const at = 8 + n + t.data_offsets[0];
  (NAN[t.dtype] as (b: Buffer, at: number) => void)(bytes, at);
  writeFileSync(file, bytes);
  return name;
}
