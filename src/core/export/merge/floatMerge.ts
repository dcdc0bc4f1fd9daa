/**
 * `merge` for every base that is not ONNX: the float model W + s·ΔW written as safetensors (sharded
 * with an index above a size), what PEFT's `merge_and_unload()` + `save_pretrained()` give. Quantized
 * and FP8 base weights are dequantized first; the output is never re-quantized (the report says so).
 * Unpatched float tensors in the output dtype are copied byte for byte.
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Checkpoint, PlainValue, TensorInfo } from '../../formats/checkpoint.js';
import type { FloatTarget } from '../../formats/encode.js';
import { CheckpointError } from '../../formats/errors.js';
import { FLOAT8_DTYPES } from '../../formats/quant/readFloat.js';
import { isQuantizedCheckpoint } from '../../formats/quant/logicalView.js';
import type { MappedPair } from '../../mapping/mappedPair.js';
import { ropeFromConfig } from '../../mapping/export/remap.js';
import { refuseSources, writeJsonAtomically } from '../atomicFile.js';
import { claimTemp, releaseTemp } from '../tempFiles.js';
import { writeSafetensors, type TensorToWrite } from '../safetensorsWriter.js';
import { mergedSource, type ComputedTensor } from './mergedSource.js';
import { planMerge, type MergePatch } from './plan.js';
import { DEFAULT_MAX_SHARD_BYTES, planShards } from './shards.js';

export interface FloatMergeOptions {
  /** A `.safetensors` file, or a folder (then `model.safetensors` and a `config.json` go in it). */
  readonly outPath: string;
  /** Output dtype of every float tensor; the base's float dtype when absent. */
  readonly dtype?: FloatTarget;
  readonly maxShardBytes?: number;
  readonly signal?: AbortSignal;
  /** Files never to write over (the sources). */
  readonly protect?: readonly string[];
}

export interface FloatMergeReport {
  readonly out: string;
  /** Every file written: the shards, then the index and config.json when written. */
  readonly files: readonly string[];
  readonly dtype: FloatTarget;
  readonly tensors: number;
  readonly bytes: number;
  readonly patched: readonly {
    readonly initializer: string;
    readonly module: string;
    readonly transposed: boolean;
  }[];
  /** Quantized (or FP8) base weights written as floats, by scheme label. */
  readonly dequantized: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
  readonly warnings: readonly string[];
}

const PLAIN_FLOATS: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);
const TORCH_DTYPES: Readonly<Record<string, FloatTarget>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
};

/** config.json's `torch_dtype`/`dtype`, else the float dtype most parameters are stored in. */
export function baseFloatDtype(base: Checkpoint): FloatTarget {
  const cfg = base.configs?.['config.json'];
  if (cfg && typeof cfg === 'object' && !Array.isArray(cfg)) {
    const named = cfg.torch_dtype ?? cfg.dtype;
    if (typeof named === 'string' && TORCH_DTYPES[named]) return TORCH_DTYPES[named];
  }
  const count: Record<FloatTarget, number> = { F32: 0, F16: 0, BF16: 0 };
  for (const t of base.tensors) {
    const d = t.quant?.scaleDtype ?? t.dtype;
    if (d === 'F32' || d === 'F16' || d === 'BF16') count[d] += t.parameterCount;
  }
  const best = (Object.keys(count) as FloatTarget[]).sort((a, b) => count[b] - count[a])[0];
  return best && count[best] > 0 ? best : 'F32';
}

async function resolveOut(outPath: string): Promise<{ file: string; folder: string | null }> {
  const full = resolve(outPath);
  if (/\.safetensors$/i.test(full)) return { file: full, folder: null };
  const isDir = await stat(full).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir && extname(full) !== '')
    throw new CheckpointError(
      'InvalidExport',
      `${outPath}: the base is not ONNX, so the merged model is written as safetensors; give a .safetensors file or a folder as the output`,
      outPath,
    );
  return { file: join(full, 'model.safetensors'), folder: full };
}

/** The base's config.json as a float model's: no quantization_config, the output dtype. */
function floatConfig(base: Checkpoint, dtype: FloatTarget): Record<string, PlainValue> | null {
  const cfg = base.configs?.['config.json'];
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) return null;
  const copy: Record<string, PlainValue> = { ...cfg };
  delete copy.quantization_config;
  delete copy.compression_config;
  const name = Object.entries(TORCH_DTYPES).find(([, d]) => d === dtype)?.[0] ?? 'float32';
  if ('torch_dtype' in copy) copy.torch_dtype = name;
  copy.dtype = name;
  return copy;
}

/** Row 0 of every quantized weight, so an unsupported type or a broken part fails before writing. */
async function preflight(base: Checkpoint, tensors: readonly TensorInfo[]): Promise<void> {
  if (!isQuantizedCheckpoint(base)) return;
  for (const t of tensors) {
    if (!t.quant) continue;
    const cols = t.parameterCount / (t.shape[0] || 1);
    await base.dequantizeRows(t, 0, Math.min(1, t.shape[0] ?? 0), new Float32Array(cols));
  }
}

/** Merges an open, mapped pair into safetensors. */
export async function mergeIntoSafetensors(
  pair: Pick<MappedPair, 'adapter' | 'base' | 'analysis' | 'mapping' | 'warnings'>,
  options: FloatMergeOptions,
): Promise<FloatMergeReport> {
  const { base, adapter } = pair;
  const { signal } = options;
  signal?.throwIfAborted();
  if (base.format === 'onnx')
    throw new CheckpointError('InvalidExport', 'an ONNX base is merged into ONNX (mergeOpenPair)');
  const rope = base.format === 'gguf' ? ropeFromConfig(base) : null;
  const plan = planMerge(pair.analysis, pair.mapping, base, { inPlace: false, rope });
  if (plan.patches.length === 0)
    throw new CheckpointError(
      'InvalidExport',
      `nothing to merge: no mapped module can be baked into the model${plan.warnings.length ? ` (${plan.warnings.join('; ')})` : ''}`,
    );
  const dtype = options.dtype ?? baseFloatDtype(base);
  const { file, folder } = await resolveOut(options.outPath);
  const parent = folder ? dirname(folder) : dirname(file);
  if (
    !(await stat(parent).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw new CheckpointError('FileNotFound', `the output folder ${parent} does not exist`, parent);
  const byTarget = new Map<string, MergePatch[]>();
  for (const p of plan.patches)
    byTarget.set(p.target.name, [...(byTarget.get(p.target.name) ?? []), p]);
  await preflight(base, base.tensors);

  const computed: ComputedTensor[] = [];
  const dequantized: Record<string, number> = {};
  const items: { name: string; from: TensorInfo; computed: boolean; outDtype: string }[] = [];
  for (const t of base.tensors) {
    const patches = byTarget.get(t.name) ?? [];
    const needsCompute = patches.length > 0 || t.quant !== undefined || FLOAT8_DTYPES.has(t.dtype);
    if (t.quant || FLOAT8_DTYPES.has(t.dtype)) {
      const label = t.quant?.label ?? t.dtype;
      dequantized[label] = (dequantized[label] ?? 0) + 1;
    }
    if (needsCompute) {
      computed.push({ source: t, patches, dtype });
      items.push({ name: t.name, from: t, computed: true, outDtype: dtype });
    } else
      items.push({
        name: t.name,
        from: t,
        computed: false,
        outDtype: PLAIN_FLOATS.has(t.dtype) ? dtype : t.dtype,
      });
  }
  const source = mergedSource(base, adapter, computed, signal);
  const bytesOf = (i: (typeof items)[number]) =>
    i.computed || PLAIN_FLOATS.has(i.from.dtype)
      ? i.from.parameterCount * (dtype === 'F32' ? 4 : 2)
      : i.from.byteLength;
  const shards = planShards(file, items, bytesOf, options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  const protect = [...(options.protect ?? [])];
  await refuseSources(
    [
      ...shards.files,
      ...(shards.index ? [shards.index] : []),
      ...(folder ? [join(folder, 'config.json')] : []),
    ],
    protect,
  );
  if (folder) await mkdir(folder, { recursive: true });

  // Each shard is written to a temp name and all are renamed at the end, so a failure leaves no
  // half-merged set of shards beside an old index.
  const temps = shards.files.map((f) => claimTemp(resolve(f), 'partial'));
  const metadata = { format: 'pt' };
  const weightMap: Record<string, string> = {};
  try {
    for (const [k, shard] of shards.shards.entries()) {
      signal?.throwIfAborted();
      const tensors: TensorToWrite[] = shard.map((i) =>
        i.computed
          ? {
              name: i.name,
              from: source.tensors.get(i.name) as TensorInfo,
              checkpoint: source.checkpoint,
            }
          : { name: i.name, from: i.from, checkpoint: base, dtype },
      );
      const target = shards.files[k] as string;
      for (const i of shard) weightMap[i.name] = basename(target);
      await writeSafetensors(temps[k] as string, tensors, metadata, { protect });
    }
    for (const [k, f] of shards.files.entries()) await rename(temps[k] as string, f);
  } catch (e) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw e;
  } finally {
    for (const t of temps) releaseTemp(t);
  }
  const files = [...shards.files];
  if (shards.index) {
    await writeJsonAtomically(
      shards.index,
      {
        metadata: { total_size: items.reduce((n, i) => n + bytesOf(i), 0) },
        weight_map: sortKeys(weightMap),
      },
      { protect },
    );
    files.push(shards.index);
  }
  const config = folder ? floatConfig(base, dtype) : null;
  if (folder && config) {
    const path = join(folder, 'config.json');
    await writeJsonAtomically(path, config, { protect });
    files.push(path);
  }
  const quantizedCount = Object.values(dequantized).reduce((a, b) => a + b, 0);
  const notes = quantizedCount
    ? [
        `${quantizedCount} quantized base weight${quantizedCount === 1 ? ' was' : 's were'} dequantized (${Object.entries(
          dequantized,
        )
          .map(([k, v]) => `${v} × ${k}`)
          .join(
            ', ',
          )}) and written as ${dtype}; re-quantizing the merged model is out of scope (quantize it again with the tool that made the base)`,
      ]
    : [];
  return {
    out: files[0] as string,
    files,
    dtype,
    tensors: items.length,
    bytes: await totalSize(files),
    patched: plan.patches.map((p) => ({
      initializer: p.target.name,
      module: p.module.name,
      transposed: p.entry.transposed,
    })),
    dequantized,
    notes,
    warnings: [...pair.warnings, ...plan.warnings],
  };
}

function sortKeys(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function totalSize(files: readonly string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await stat(f)).size;
  return n;
}
