/**
 * Smoke test at Llama-7B scale, and what switching adapters costs.
 *
 * 1. A Llama-7B-shaped r=16 PEFT adapter (32 layers × q,k,v,o,gate,up,down = 224 modules, seeded
 *    random A/B) against a 13.5 GB BF16 base whose data is a sparse hole (zeros, read at page-cache
 *    speed), smoke-tested on CPU through the child process, as the CLI and the editor run it. Goals:
 *    under 30 s and under 2 GB peak RSS in the child; the floor is reading every byte the test needs
 *    (base weights + adapter) once, measured in the same run.
 * 2. Adapter switching: a 4096×4096 linear graph (W an initializer, A/B/s inputs) fed N new A/B
 *    pairs on one cached session, against N fresh sessions (create + run), on the CPU EP.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../src/core/export/safetensorsWriter.js';
import {
  summarizeDtypes,
  type Checkpoint,
  type TensorInfo,
} from '../src/core/formats/checkpoint.js';
import { onnx } from 'onnx-proto';
import { openPath } from '../src/core/formats/index.js';
import { buildModuleGraph } from '../src/core/smoke/graphs.js';
import { referenceLinear, spacedIndices } from '../src/core/smoke/reference.js';
import { toFloat32 } from '../src/core/formats/floatDecode.js';
import { runSmokeInChild } from '../src/core/smoke/host/client.js';
import type { ChildUsage } from '../src/core/smoke/host/protocol.js';
import type { OrtModule } from '../src/core/smoke/run.js';
import type { SmokeReport } from '../src/core/smoke/types.js';

const LAYERS = 32;
const HIDDEN = 4096;
const FFN = 11008;
const VOCAB = 32000;
const RANK = 16;
const ALPHA = 32;
const GOAL_MS = 30_000;
const GOAL_RSS = 2 * 1024 ** 3;

const MODULES: readonly { path: string; out: number; in: number }[] = [
  { path: 'self_attn.q_proj', out: HIDDEN, in: HIDDEN },
  { path: 'self_attn.k_proj', out: HIDDEN, in: HIDDEN },
  { path: 'self_attn.v_proj', out: HIDDEN, in: HIDDEN },
  { path: 'self_attn.o_proj', out: HIDDEN, in: HIDDEN },
  { path: 'mlp.gate_proj', out: FFN, in: HIDDEN },
  { path: 'mlp.up_proj', out: FFN, in: HIDDEN },
  { path: 'mlp.down_proj', out: HIDDEN, in: FFN },
];

/** Deterministic uniform floats in [-scale, scale) from a 32-bit seed (mulberry32). */
function seededFloats(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

function nameSeed(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * An adapter that exists only as a recipe: tensors whose bytes are generated on demand from a seed
 * per name, so the safetensors writer streams it to disk without holding it in memory.
 */
function syntheticAdapter(): Checkpoint {
  const tensors: TensorInfo[] = [];
  for (let l = 0; l < LAYERS; l++)
    for (const m of MODULES) {
      const base = `base_model.model.model.layers.${l}.${m.path}`;
      for (const [part, shape] of [
        ['lora_A', [RANK, m.in]],
        ['lora_B', [m.out, RANK]],
      ] as const) {
        const n = shape[0] * shape[1];
        tensors.push({
          name: `${base}.${part}.weight`,
          dtype: 'F32',
          shape,
          offset: -1,
          byteLength: n * 4,
          parameterCount: n,
        });
      }
    }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const parameterCount = tensors.reduce((s, t) => s + t.parameterCount, 0);
  return {
    format: 'safetensors',
    name: 'synthetic-llama-7b-r16',
    fileSize: 0,
    headerByteLength: 0,
    tensors,
    metadata: {},
    parameterCount,
    dataBytes: parameterCount * 4,
    dtypes: summarizeDtypes(tensors),
    tensor: (name) => byName.get(name) as TensorInfo,
    readTensorBytes: (t) => {
      // Kaiming-like A; B non-zero (as if trained), small enough that the delta stays a delta.
      const isA = t.name.includes('lora_A');
      const scale = isA ? 1 / Math.sqrt(t.shape[1] as number) : 0.01;
      const v = seededFloats(t.parameterCount, nameSeed(t.name), scale);
      return Promise.resolve(new Uint8Array(v.buffer));
    },
    close: () => Promise.resolve(),
  };
}

export async function writeAdapter(dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const ckpt = syntheticAdapter();
  const tensors: TensorToWrite[] = ckpt.tensors.map((t) => ({
    name: t.name,
    from: t,
    checkpoint: ckpt,
  }));
  const r = await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, {
    format: 'pt',
  });
  await writeFile(
    join(dir, 'adapter_config.json'),
    JSON.stringify(
      {
        peft_type: 'LORA',
        base_model_name_or_path: 'synthetic-llama-7b',
        r: RANK,
        lora_alpha: ALPHA,
        target_modules: [
          'q_proj',
          'k_proj',
          'v_proj',
          'o_proj',
          'gate_proj',
          'up_proj',
          'down_proj',
        ],
        fan_in_fan_out: false,
        use_rslora: false,
        use_dora: false,
        task_type: 'CAUSAL_LM',
      },
      null,
      2,
    ),
  );
  return r.bytes;
}

interface SparseTensor {
  name: string;
  shape: [number, number] | [number];
}

/** Every this-many-th row of a LoRA-targeted weight holds data; the rest is a hole (zeros). */
const DENSE_ROW_EVERY = 64;

/** BF16 bits of a float32 (round to nearest even); the data here is finite. */
function bf16(v: Float32Array): Uint16Array {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  const out = new Uint16Array(v.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i] as number;
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * Llama-2-7B's tensor table in BF16, its data region a hole (written in milliseconds), except one row
 * in 64 of each targeted weight: an all-zero W would make W·x zero and every delta ratio infinite.
 */
async function writeSparseBase(
  dir: string,
): Promise<{ path: string; bytes: number; written: number }> {
  mkdirSync(dir, { recursive: true });
  const tensors: SparseTensor[] = [{ name: 'model.embed_tokens.weight', shape: [VOCAB, HIDDEN] }];
  for (let l = 0; l < LAYERS; l++) {
    for (const m of MODULES)
      tensors.push({ name: `model.layers.${l}.${m.path}.weight`, shape: [m.out, m.in] });
    tensors.push({ name: `model.layers.${l}.input_layernorm.weight`, shape: [HIDDEN] });
    tensors.push({ name: `model.layers.${l}.post_attention_layernorm.weight`, shape: [HIDDEN] });
  }
  tensors.push({ name: 'model.norm.weight', shape: [HIDDEN] });
  tensors.push({ name: 'lm_head.weight', shape: [VOCAB, HIDDEN] });
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const starts: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    starts.push(offset);
    offset += bytes;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.length));
  const path = join(dir, 'model.safetensors');
  const dataStart = 8 + text.length;
  const fh = await open(path, 'w');
  let written = 0;
  try {
    await fh.write(prefix, 0, 8, 0);
    await fh.write(Buffer.from(text), 0, text.length, 8);
    await fh.truncate(dataStart + offset);
    for (const [i, t] of tensors.entries()) {
      if (!t.name.includes('_proj.')) continue;
      const [rows, cols] = t.shape as [number, number];
      const row = bf16(seededFloats(cols, nameSeed(t.name), 1 / Math.sqrt(cols)));
      const bytes = new Uint8Array(row.buffer);
      for (let r = 0; r < rows; r += DENSE_ROW_EVERY) {
        await fh.write(bytes, 0, bytes.length, dataStart + (starts[i] as number) + r * cols * 2);
        written += bytes.length;
      }
    }
  } finally {
    await fh.close();
  }
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: HIDDEN,
      intermediate_size: FFN,
      num_hidden_layers: LAYERS,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      vocab_size: VOCAB,
      torch_dtype: 'bfloat16',
    }),
  );
  return { path, bytes: dataStart + offset, written };
}

/** The floor: read every byte of the given files once, 8 MiB at a time. */
export async function readAll(paths: readonly string[]): Promise<number> {
  const buf = Buffer.allocUnsafe(8 << 20);
  let total = 0;
  for (const p of paths) {
    const fh = await open(p, 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  return total;
}

/** dist/smokeWorker.js, built by the product's own build script. */
export function buildWorker(): string {
  const r = spawnSync(process.execPath, ['esbuild.js'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node esbuild.js failed:\n${r.stderr}`);
  return resolve('dist/smokeWorker.js');
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** Where the time went, from the report (the engine's own split). */
function profile(r: SmokeReport): string {
  const t = r.timings;
  const byVariant = new Map<string, { n: number; ms: number }>();
  for (const m of r.modules) {
    const k = m.variant ?? 'none';
    const v = byVariant.get(k) ?? { n: 0, ms: 0 };
    v.n++;
    v.ms += m.ms;
    byVariant.set(k, v);
  }
  const slowest = [...r.modules].sort((a, b) => b.ms - a.ms).slice(0, 3);
  return (
    `    engine: total ${t.totalMs.toFixed(0)} ms = session ${t.sessionMs.toFixed(0)} + modules ${t.modulesMs.toFixed(0)} + model ${t.modelMs.toFixed(0)}\n` +
    [...byVariant]
      .map(([k, v]) => `    ${k}: ${v.n} modules, ${(v.ms / v.n).toFixed(0)} ms each`)
      .join('\n') +
    `\n    slowest: ${slowest.map((m) => `${m.module.split('.').slice(-3).join('.')} ${m.ms.toFixed(0)} ms`).join(', ')}`
  );
}

/**
 * Where one module's time goes, stage by stage, in this process: the largest module (up_proj,
 * 11008×4096) read, converted to float32, run through the linear graph, and checked in float64.
 */
async function profileOneModule(basePath: string, adapterDir: string): Promise<string> {
  const pkg = 'onnxruntime-node';
  const imported = (await import(pkg)) as OrtModule & { default?: OrtModule };
  const ort = imported.default ?? imported;
  const base = await openPath(basePath);
  const adapter = await openPath(adapterDir);
  try {
    const name = 'model.layers.5.mlp.up_proj';
    const w = base.tensor(`${name}.weight`);
    const ta = adapter.tensor(`base_model.model.${name}.lora_A.weight`);
    const tb = adapter.tensor(`base_model.model.${name}.lora_B.weight`);
    const [outF, inF] = w.shape as [number, number];
    const stage: [string, number][] = [];
    let t = performance.now();
    const lap = (label: string) => {
      const now = performance.now();
      stage.push([label, now - t]);
      t = now;
    };
    const wBytes = await base.readTensorBytes(w);
    const aBytes = await adapter.readTensorBytes(ta);
    const bBytes = await adapter.readTensorBytes(tb);
    lap('read');
    const wf = toFloat32(wBytes, w.dtype);
    const af = toFloat32(aBytes, ta.dtype);
    const bf = toFloat32(bBytes, tb.dtype);
    lap('to f32');
    const session = await ort.InferenceSession.create(buildModuleGraph({ variant: 'linear' }), {
      executionProviders: ['cpu'],
    });
    lap('session');
    const x = seededFloats(4 * inF, 3, 1);
    await session.run({
      x: new ort.Tensor('float32', x, [4, inF]),
      w: new ort.Tensor('float32', wf, [outF, inF]),
      a: new ort.Tensor('float32', af, [RANK, inF]),
      b: new ort.Tensor('float32', bf, [outF, RANK]),
      s: new ort.Tensor('float32', new Float32Array([ALPHA / RANK]), [1]),
    });
    lap('ORT run');
    await session.release();
    referenceLinear(
      {
        x,
        batch: 4,
        inF,
        outF,
        w: wf,
        wStoredTransposed: false,
        a: af,
        b: bf,
        r: RANK,
        s: ALPHA / RANK,
      },
      spacedIndices(outF),
    );
    lap('float64 reference');
    return `    one up_proj (${outF}×${inF}) in this process: ${stage.map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(', ')}`;
  } finally {
    await base.close();
    await adapter.close();
  }
}

async function benchLlama7b(dir: string, workerPath: string): Promise<string[]> {
  const lines: string[] = [];
  const adapterDir = join(dir, 'adapter');
  const baseDir = join(dir, 'base');
  const t0 = performance.now();
  const adapterBytes = await writeAdapter(adapterDir);
  const base = await writeSparseBase(baseDir);
  lines.push(
    `smoke test, Llama-7B-shaped r=${RANK} adapter (224 modules, ${gib(adapterBytes)} F32) on a sparse ${gib(base.bytes)} BF16 base ` +
      `(${gib(base.written)} of it data; written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  // Warm the page cache the same way for both: the floor reads everything once first.
  await readAll([base.path, join(adapterDir, 'adapter_model.safetensors')]);
  const f0 = performance.now();
  const floorBytes = await readAll([base.path, join(adapterDir, 'adapter_model.safetensors')]);
  const floorMs = performance.now() - f0;

  let usage: ChildUsage | undefined;
  let modules = 0;
  const s0 = performance.now();
  let report: SmokeReport;
  try {
    report = await runSmokeInChild(
      { adapterPath: adapterDir, basePath: baseDir, eps: ['cpu'] },
      {
        workerPath,
        timeoutMs: 600_000,
        onUsage: (u) => (usage = u),
        onEvent: (e) => {
          if (e.type === 'module') modules++;
        },
      },
    );
  } catch (e) {
    lines.push(
      `  FAILED after ${((performance.now() - s0) / 1000).toFixed(1)} s, ${modules} modules done: ${(e as Error).message}`,
    );
    return lines;
  }
  const wallMs = performance.now() - s0;
  const rss = usage?.maxRssBytes ?? NaN;
  const passed = report.modules.filter((m) => m.ok).length;
  lines.push(
    `  floor (read base + adapter once, ${gib(floorBytes)}, warm cache)  ${(floorMs / 1000).toFixed(2)} s`,
    `  smoke in the child process, ep ${report.ep ?? 'none'}       ${(wallMs / 1000).toFixed(2)} s  ` +
      `(${(wallMs / floorMs).toFixed(1)}× the floor; ${(wallMs / GOAL_MS).toFixed(2)}× the 30 s goal) ${wallMs <= GOAL_MS ? 'OK' : 'OVER'}`,
    `  peak RSS of the child                  ${gib(rss)}  (${(rss / GOAL_RSS).toFixed(2)}× the 2 GB goal) ${rss <= GOAL_RSS ? 'OK' : 'OVER'}`,
    `  ${passed}/${report.modules.length} modules ok; verdict: ${report.verdict}`,
    profile(report),
    await profileOneModule(base.path, adapterDir),
  );
  if (report.switching)
    lines.push(
      `  switching (engine): ${report.switching.switchMs.toFixed(1)} ms vs rebuild ${report.switching.rebuildMs.toFixed(1)} ms`,
    );
  return lines;
}

/** y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with W an initializer (as in a real model) and A, B, s graph inputs. */
function linearLoraModel(w: Float32Array, outF: number, inF: number): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const info = (name: string, dims: (number | string)[]): onnx.IValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  });
  const gemmT = (a: string, b: string, out: string): onnx.INodeProto => ({
    opType: 'Gemm',
    input: [a, b],
    output: [out],
    name: out,
    attribute: [{ name: 'transB', i: 1, type: onnx.AttributeProto.AttributeType.INT }],
  });
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'lora-lens-bench',
    graph: {
      name: 'linear_lora',
      initializer: [
        { name: 'W', dims: [outF, inF], dataType: FLOAT, rawData: new Uint8Array(w.buffer) },
      ],
      input: [
        info('x', ['batch', inF]),
        info('A', ['r', inF]),
        info('B', [outF, 'r']),
        info('s', [1]),
      ],
      output: [info('y', ['batch', outF])],
      node: [
        gemmT('x', 'W', 'base'),
        gemmT('x', 'A', 'xa'),
        gemmT('xa', 'B', 'xab'),
        { opType: 'Mul', input: ['xab', 's'], output: ['delta'], name: 'delta' },
        { opType: 'Add', input: ['base', 'delta'], output: ['y'], name: 'y' },
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/** N new A/B feeds on one cached session, against N fresh sessions (create + run), on CPU. */
async function benchSwitching(n = 20, inF = HIDDEN, outF = HIDDEN, rank = RANK): Promise<string[]> {
  // A non-literal specifier keeps the bench bundle from trying to inline the native package.
  const pkg = 'onnxruntime-node';
  const imported = (await import(pkg)) as OrtModule & { default?: OrtModule };
  const ort = imported.default ?? imported;
  const model = linearLoraModel(seededFloats(outF * inF, 1, 1 / Math.sqrt(inF)), outF, inF);
  const x = new ort.Tensor('float32', seededFloats(4 * inF, 2, 1), [4, inF]);
  const s = new ort.Tensor('float32', new Float32Array([ALPHA / rank]), [1]);
  const adapters = Array.from({ length: n + 1 }, (_, k) => ({
    x,
    s,
    A: new ort.Tensor('float32', seededFloats(rank * inF, 10 + k, 1 / Math.sqrt(inF)), [rank, inF]),
    B: new ort.Tensor('float32', seededFloats(outF * rank, 100 + k, 0.01), [outF, rank]),
  }));
  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' } as const;
  const cached = await ort.InferenceSession.create(model, opts);
  await cached.run(adapters[0] as (typeof adapters)[number]);
  const t0 = performance.now();
  for (let k = 1; k <= n; k++) await cached.run(adapters[k] as (typeof adapters)[number]);
  const switchMs = (performance.now() - t0) / n;
  await cached.release();
  const t1 = performance.now();
  for (let k = 1; k <= n; k++) {
    const fresh = await ort.InferenceSession.create(model, opts);
    await fresh.run(adapters[k] as (typeof adapters)[number]);
    await fresh.release();
  }
  const rebuildMs = (performance.now() - t1) / n;
  return [
    `adapter switch vs session rebuild: linear ${outF}×${inF} (W an initializer), r=${rank}, batch 4, ${n} adapters, CPU EP`,
    `  switch (new A/B feeds on a cached session)  ${switchMs.toFixed(2)} ms`,
    `  rebuild (create a session + run)            ${rebuildMs.toFixed(2)} ms`,
    `  ratio                                       ${(rebuildMs / switchMs).toFixed(1)}× cheaper to switch`,
  ];
}

export async function benchSmoke(dir: string): Promise<string[]> {
  const lines: string[] = [];
  const workerPath = buildWorker();
  try {
    lines.push(...(await benchLlama7b(dir, workerPath)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  lines.push(...(await benchSwitching()));
  return lines;
}
