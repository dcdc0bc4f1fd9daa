/**
 * Sparse safetensors fixtures of Llama-like names (`model.layers.N.self_attn.q_proj.weight`, …): the
 * header, then a hole for the data, written in milliseconds. Shared by the host-memory and
 * header-parse benches so both measure the same files.
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';

const KINDS: readonly (readonly [string, readonly number[], number])[] = [
  ['self_attn.q_proj.weight', [64, 64], 2],
  ['self_attn.k_proj.weight', [16, 64], 2],
  ['self_attn.v_proj.weight', [16, 64], 2],
  ['self_attn.o_proj.weight', [64, 64], 2],
  ['mlp.gate_proj.weight', [128, 64], 2],
  ['mlp.up_proj.weight', [128, 64], 2],
  ['mlp.down_proj.weight', [64, 128], 2],
  ['input_layernorm.weight', [64], 2],
  ['post_attention_layernorm.weight', [64], 2],
];

/** Writes `count` tensors as a sparse safetensors file; `tiny` makes every tensor an I8 scalar. */
export async function writeFixture(path: string, count: number, tiny: boolean): Promise<void> {
  if (existsSync(path)) return;
  const parts: string[] = [];
  let offset = 0;
  const layers = Math.ceil(count / KINDS.length);
  let n = 0;
  parts.push('{"__metadata__":{"format":"pt"}');
  for (let layer = 0; layer < layers && n < count; layer++) {
    for (const [kind, shape, bytes] of KINDS) {
      if (n++ >= count) break;
      const s = tiny ? [] : shape;
      const size = tiny ? 1 : s.reduce((a, b) => a * b, 1) * bytes;
      parts.push(
        `,"${tiny ? '' : 'model.'}layers.${layer}.${kind}":{"dtype":"${tiny ? 'I8' : 'F16'}","shape":[${s.join(',')}],"data_offsets":[${offset},${offset + size}]}`,
      );
      offset += size;
    }
  }
  parts.push('}');
  let header = Buffer.from(parts.join(''), 'utf8');
  const pad = (8 - (header.length % 8)) % 8;
  if (pad) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  if (header.length > 100_000_000) throw new Error(`${path}: header ${header.length} bytes`);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const fh = await open(path, 'w');
  try {
    await fh.write(prefix, 0, 8, 0);
    await fh.write(header, 0, header.length, 8);
    await fh.truncate(8 + header.length + offset);
  } finally {
    await fh.close();
  }
}
