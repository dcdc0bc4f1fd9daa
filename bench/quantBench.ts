/**
 * Quantized bases and the float merge (issue 13's goals), each against a floor measured in this run.
 *
 * 1. Smoke test of the Llama-7B-shaped r=16 adapter (224 modules) on a Llama-7B-shaped GGUF whose 224
 *    linear weights are Q4_0 (3.8 GB, a sparse file: one row in 64 holds random blocks, the rest are
 *    zero blocks), on CPU in the child process. Goals: < 60 s and child peak RSS < 1 GB. Floor: reading
 *    the base and the adapter once.
 * 2. Merge throughput: a 1 GB F16 safetensors base (real bytes) with an adapter on every linear weight,
 *    merged to F16 safetensors, against `cp` + sync of the same file.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mergeAdapter } from '../src/core/export/merge/index.js';
import { runSmokeInChild } from '../src/core/smoke/host/client.js';
import type { ChildUsage } from '../src/core/smoke/host/protocol.js';
import { buildWorker, readAll, writeAdapter } from './smokeBench.js';

const LAYERS = 32;
const HIDDEN = 4096;
const FFN = 11008;
const VOCAB = 32000;
const GOAL_MS = 60_000;
const GOAL_RSS = 1024 ** 3;
const Q4_0 = 2;
const F16 = 1;
const F32 = 0;
const ALIGN = 32;

const LINEAR: readonly [string, number, number][] = [
  ['attn_q', HIDDEN, HIDDEN],
  ['attn_k', HIDDEN, HIDDEN],
  ['attn_v', HIDDEN, HIDDEN],
  ['attn_output', HIDDEN, HIDDEN],
  ['ffn_gate', FFN, HIDDEN],
  ['ffn_up', FFN, HIDDEN],
  ['ffn_down', HIDDEN, FFN],
];

interface GgufTensor {
  name: string;
  /** PyTorch order [out, in] (written reversed, as ggml's ne). */
  shape: number[];
  type: number;
  bytes: number;
  offset: number;
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** A GGUF v3 header: llama KV pairs (uint32 / string) and the tensor infos. */
function ggufHeader(tensors: readonly GgufTensor[], kv: Record<string, number | string>): Buffer {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(tensors.length)];
  parts.push(u64(Object.keys(kv).length));
  for (const [k, v] of Object.entries(kv)) {
    parts.push(str(k));
    if (typeof v === 'string') parts.push(u32(8), str(v));
    else parts.push(u32(4), u32(v));
  }
  for (const t of tensors) {
    parts.push(str(t.name), u32(t.shape.length));
    for (const d of [...t.shape].reverse()) parts.push(u64(d));
    parts.push(u32(t.type), u64(t.offset));
  }
  const header = Buffer.concat(parts);
  const padded = Math.ceil(header.length / ALIGN) * ALIGN;
  return Buffer.concat([header, Buffer.alloc(padded - header.length)]);
}

/** One Q4_0 row of random blocks: f16 scale 0.01, random nibbles. */
function q4Row(cols: number, seed: number): Buffer {
  const blocks = cols / 32;
  const row = Buffer.alloc(blocks * 18);
  let a = seed >>> 0;
  for (let b = 0; b < blocks; b++) {
    row.writeUInt16LE(0x211e, b * 18); // ≈ 0.01 in F16
    for (let j = 0; j < 16; j++) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      row[b * 18 + 2 + j] = a >>> 24;
    }
  }
  return row;
}

async function writeSparseGguf(dir: string): Promise<{ path: string; bytes: number }> {
  mkdirSync(dir, { recursive: true });
  const tensors: GgufTensor[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], type: number) => {
    const n = shape.reduce((x, y) => x * y, 1);
    const bytes = type === Q4_0 ? (n / 32) * 18 : type === F16 ? n * 2 : n * 4;
    tensors.push({ name, shape, type, bytes, offset });
    offset = Math.ceil((offset + bytes) / ALIGN) * ALIGN;
  };
  add('token_embd.weight', [VOCAB, HIDDEN], F16);
  for (let l = 0; l < LAYERS; l++) {
    for (const [n, out, inn] of LINEAR) add(`blk.${l}.${n}.weight`, [out, inn], Q4_0);
    add(`blk.${l}.attn_norm.weight`, [HIDDEN], F32);
    add(`blk.${l}.ffn_norm.weight`, [HIDDEN], F32);
  }
  add('output_norm.weight', [HIDDEN], F32);
  add('output.weight', [VOCAB, HIDDEN], F16);
  const header = ggufHeader(tensors, {
    'general.architecture': 'llama',
    'llama.block_count': LAYERS,
    'llama.embedding_length': HIDDEN,
    'llama.feed_forward_length': FFN,
    'llama.attention.head_count': 32,
    'llama.attention.head_count_kv': 32,
    'llama.context_length': 4096,
  });
  const path = join(dir, 'model.gguf');
  const fh = await open(path, 'w');
  try {
    await fh.write(header, 0, header.length, 0);
    await fh.truncate(header.length + offset);
    for (const t of tensors) {
      if (t.type !== Q4_0) continue;
      const [rows, cols] = t.shape as [number, number];
      const rowBytes = (cols / 32) * 18;
      for (let r = 0; r < rows; r += 64) {
        const row = q4Row(cols, r * 7919 + t.offset);
        await fh.write(row, 0, row.length, header.length + t.offset + r * rowBytes);
      }
    }
  } finally {
    await fh.close();
  }
  return { path, bytes: header.length + offset };
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;

async function benchQ4Smoke(dir: string): Promise<string[]> {
  const lines = ['smoke test on a Q4_0 GGUF base (Llama-7B-shaped, 224 modules, r=16, CPU)'];
  const workerPath = buildWorker();
  const adapterDir = join(dir, 'adapter');
  await writeAdapter(adapterDir);
  const base = await writeSparseGguf(join(dir, 'gguf'));
  const f0 = performance.now();
  const floorBytes = await readAll([base.path, join(adapterDir, 'adapter_model.safetensors')]);
  const floorMs = performance.now() - f0;
  let usage: ChildUsage | undefined;
  const s0 = performance.now();
  const report = await runSmokeInChild(
    { adapterPath: adapterDir, basePath: base.path, eps: ['cpu'] },
    { workerPath, timeoutMs: 600_000, onUsage: (u) => (usage = u) },
  );
  const ms = performance.now() - s0;
  const rss = usage?.maxRssBytes ?? NaN;
  const passed = report.modules.filter((m) => m.status === 'pass').length;
  lines.push(
    `  floor (read base + adapter once, ${gib(floorBytes)}, warm cache)  ${(floorMs / 1000).toFixed(2)} s`,
    `  smoke in the child, dequantizing Q4_0     ${(ms / 1000).toFixed(2)} s  (${(ms / floorMs).toFixed(1)}× the floor; ${(ms / GOAL_MS).toFixed(2)}× the 60 s goal) ${ms <= GOAL_MS ? 'OK' : 'OVER'}`,
    `  peak RSS of the child                     ${gib(rss)}  (${(rss / GOAL_RSS).toFixed(2)}× the 1 GB goal) ${rss <= GOAL_RSS ? 'OK' : 'OVER'}`,
    `  ${passed}/${report.modules.length} modules pass; verdict: ${report.verdict}`,
  );
  return lines;
}

/** A Llama-shaped F16 base of about 1 GB, with real (finite, non-zero) bytes, and an r=16 adapter. */
async function writeMergePair(dir: string): Promise<{ base: string; adapter: string }> {
  const hidden = 2048;
  const ffn = 5632;
  const layers = 10;
  const mods: [string, number, number][] = [
    ['self_attn.q_proj', hidden, hidden],
    ['self_attn.k_proj', hidden, hidden],
    ['self_attn.v_proj', hidden, hidden],
    ['self_attn.o_proj', hidden, hidden],
    ['mlp.gate_proj', ffn, hidden],
    ['mlp.up_proj', ffn, hidden],
    ['mlp.down_proj', hidden, ffn],
  ];
  const writeFile1 = async (
    path: string,
    tensors: { name: string; shape: number[]; dtype: 'F16' | 'F32' }[],
    fill: Buffer,
  ) => {
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const t of tensors) {
      const n = t.shape.reduce((x, y) => x * y, 1) * (t.dtype === 'F16' ? 2 : 4);
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
      off += n;
    }
    let text = JSON.stringify(header);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const fh = await open(path, 'w');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(text.length));
    await fh.write(prefix, 0, 8, 0);
    await fh.write(text, 8);
    for (let at = 0; at < off; at += fill.length)
      await fh.write(fill, 0, Math.min(fill.length, off - at), 8 + text.length + at);
    await fh.close();
  };
  // 0x2c00 ≈ 0.0625 in F16, 0x3c00-ish patterns: small finite values both as F16 and as F32 bytes.
  const f16 = Buffer.alloc(8 << 20);
  for (let i = 0; i < f16.length; i += 2) f16.writeUInt16LE(0x2000 + ((i * 37) % 0x0c00), i);
  const f32 = Buffer.alloc(8 << 20);
  for (let i = 0; i < f32.length; i += 4) f32.writeFloatLE((((i * 13) % 97) - 48) / 4800, i);
  mkdirSync(join(dir, 'base'), { recursive: true });
  mkdirSync(join(dir, 'adapter'), { recursive: true });
  const baseTensors: { name: string; shape: number[]; dtype: 'F16' }[] = [];
  const adapterTensors: { name: string; shape: number[]; dtype: 'F32' }[] = [];
  for (let l = 0; l < layers; l++)
    for (const [m, out, inn] of mods) {
      baseTensors.push({ name: `model.layers.${l}.${m}.weight`, shape: [out, inn], dtype: 'F16' });
      const p = `base_model.model.model.layers.${l}.${m}`;
      adapterTensors.push({ name: `${p}.lora_A.weight`, shape: [16, inn], dtype: 'F32' });
      adapterTensors.push({ name: `${p}.lora_B.weight`, shape: [out, 16], dtype: 'F32' });
    }
  const base = join(dir, 'base', 'model.safetensors');
  await writeFile1(base, baseTensors, f16);
  await writeFile1(join(dir, 'adapter', 'adapter_model.safetensors'), adapterTensors, f32);
  await writeFile(
    join(dir, 'adapter', 'adapter_config.json'),
    JSON.stringify({
      peft_type: 'LORA',
      r: 16,
      lora_alpha: 32,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    }),
  );
  return { base, adapter: join(dir, 'adapter') };
}

async function benchMergeThroughput(dir: string): Promise<string[]> {
  const { base, adapter } = await writeMergePair(dir);
  const bytes = statSync(base).size;
  await readAll([base]);
  const c0 = performance.now();
  const cp = spawnSync('sh', ['-c', `cp "${base}" "${join(dir, 'copy.safetensors')}" && sync`]);
  const cpMs = performance.now() - c0;
  if (cp.status !== 0) throw new Error(`cp failed: ${cp.stderr.toString()}`);
  rmSync(join(dir, 'copy.safetensors'));
  const m0 = performance.now();
  const r = await mergeAdapter({
    adapterPath: adapter,
    basePath: base,
    outPath: join(dir, 'merged.safetensors'),
  });
  const mergeMs = performance.now() - m0;
  const mbps = (ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  return [
    `merge into safetensors: ${(bytes / 1e9).toFixed(2)} GB F16 base, ${r.patched.length} modules patched`,
    `  floor (cp + sync of the base)   ${(cpMs / 1000).toFixed(2)} s  ${mbps(cpMs)}`,
    `  lora-lens merge (F16 out)       ${(mergeMs / 1000).toFixed(2)} s  ${mbps(mergeMs)}  (${(cpMs / mergeMs).toFixed(2)}× cp's throughput)`,
  ];
}

export async function benchQuant(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  try {
    return [
      ...(await benchQ4Smoke(join(dir, 'q4'))),
      ...(await benchMergeThroughput(join(dir, 'merge'))),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
