/**
 * Extraction throughput: a Llama-7B-shaped r=64 PEFT adapter (224 modules, F32, ~0.9 GB… scaled to
 * ~256 MB by rank) inside a training checkpoint-like file, extracted to a weights-only adapter,
 * against `cp` of the same number of bytes. Both run on a warm page cache.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { extractWeights } from '../src/core/export/extract.js';
import { openPath } from '../src/core/formats/index.js';
import { analyzeLora } from '../src/core/lora/index.js';

const RANK = 16;
const ROUNDS = 5;
const HIDDEN = 4096;
const LAYERS = 32;
const KINDS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

async function makeAdapter(path: string): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  const sizes: number[] = [];
  for (let l = 0; l < LAYERS; l++) {
    for (const k of KINDS) {
      const out = k === 'gate_proj' || k === 'up_proj' ? 11008 : HIDDEN;
      const inn = k === 'down_proj' ? 11008 : HIDDEN;
      const base = `base_model.model.model.layers.${l}.${k.includes('proj') && !k.startsWith('gate') && !k.startsWith('up') && !k.startsWith('down') ? 'self_attn' : 'mlp'}.${k}`;
      for (const [part, shape] of [
        ['lora_A', [RANK, inn]],
        ['lora_B', [out, RANK]],
      ] as const) {
        const bytes = shape[0] * shape[1] * 4;
        header[`${base}.${part}.weight`] = {
          dtype: 'F32',
          shape,
          data_offsets: [offset, offset + bytes],
        };
        offset += bytes;
        sizes.push(bytes);
      }
      // Optimizer state the extraction must drop: as big again.
      const state = RANK * inn * 4;
      header[`optimizer.${base}.exp_avg`] = {
        dtype: 'F32',
        shape: [RANK, inn],
        data_offsets: [offset, offset + state],
      };
      offset += state;
    }
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const fh = await open(path, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  await fh.write(prefix, 0, 8, 0);
  await fh.write(text, 8);
  // Real bytes (not a sparse hole), so both sides copy data.
  const chunk = Buffer.alloc(8 << 20, 7);
  const start = 8 + Buffer.byteLength(text);
  for (let at = 0; at < offset; at += chunk.length)
    await fh.write(chunk, 0, Math.min(chunk.length, offset - at), start + at);
  await fh.close();
  return sizes.reduce((a, b) => a + b, 0);
}

export async function benchExtract(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'training.safetensors');
  const loraBytes = await makeAdapter(src);
  const times = { ours: [] as number[], cp: [] as number[] };
  const ckpt = await openPath(src);
  const analysis = await analyzeLora(ckpt);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const out = join(dir, `out-${round}.safetensors`);
      let t = performance.now();
      await extractWeights(ckpt, analysis, { out, sourcePath: src });
      times.ours.push(performance.now() - t);
      const copy = join(dir, `cp-${round}.bin`);
      // cp of the same number of bytes: the extracted file itself, so the sizes match exactly.
      t = performance.now();
      const r = spawnSync('cp', [out, copy]);
      if (r.status !== 0) throw new Error(String(r.stderr));
      // fsync of that file only, as ours does: a whole-machine `sync` would also pay for others' writes.
      spawnSync('sync', [copy]);
      times.cp.push(performance.now() - t);
      rmSync(out);
      rmSync(copy);
    }
  } finally {
    await ckpt.close();
  }
  const best = (xs: number[]) => Math.min(...xs);
  const mbps = (ms: number) => loraBytes / 1e6 / (ms / 1000);
  const ratio = mbps(best(times.ours)) / mbps(best(times.cp));
  const size = statSync(src).size;
  return [
    `extraction: ${analysis.modules.length} modules, ${(loraBytes / 1e6).toFixed(0)} MB of LoRA tensors out of a ${(size / 1e6).toFixed(0)} MB checkpoint, best of ${ROUNDS}`,
    `  cp of the same bytes (+ sync)    ${best(times.cp).toFixed(0)} ms  (${mbps(best(times.cp)).toFixed(0)} MB/s)`,
    `  lora-lens extract (atomic, fsync) ${best(times.ours).toFixed(0)} ms  (${mbps(best(times.ours)).toFixed(0)} MB/s)`,
    `  throughput ratio                 ${ratio.toFixed(2)}×  (goal ≥ 0.9×) ${ratio >= 0.9 ? 'met' : 'NOT met'}`,
  ];
}
