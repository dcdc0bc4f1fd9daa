import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ByteSource } from './byteSource.js';
import type { Checkpoint, CheckpointReader, OpenContext, PlainValue } from './checkpoint.js';
import { CheckpointError, toCheckpointError } from './errors.js';
import { LocalFolder, type Siblings } from './files.js';
import { HubRepo, parseHubRef, type HubOptions } from './hub.js';
import { readJsonFile } from './jsonFile.js';
import { withQuantizedWeights } from './quant/logicalView.js';
import { ggufReader } from './gguf/index.js';
import { onnxReader } from './onnx/index.js';
import { safetensorsReader } from './safetensors.js';
import { torchReader } from './torch/index.js';
import { isShardIndexName, openShardedIndex } from './sharded.js';

/** Single-file readers, tried in order by their sniff. A new format is added to this list. */
export const READERS: readonly CheckpointReader[] = [
  safetensorsReader,
  ggufReader,
  torchReader,
  onnxReader,
];

const CONFIG_FILES = ['adapter_config.json', 'config.json'];
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** What a folder holds, in the order a loader would pick it. */
const FOLDER_CANDIDATES = [
  'adapter_model.safetensors',
  'adapter_model.bin',
  'model.safetensors.index.json',
  'model.safetensors',
  'diffusion_pytorch_model.safetensors.index.json',
  'diffusion_pytorch_model.safetensors',
  'pytorch_model.bin.index.json',
  'pytorch_model.bin',
  'diffusion_pytorch_model.bin',
  'model.onnx',
];

export interface OpenOptions {
  readonly hub?: HubOptions;
}

/** Opens a checkpoint from any byte source, choosing the reader by name and magic bytes. */
export async function openCheckpoint(
  source: ByteSource,
  context?: OpenContext,
): Promise<Checkpoint> {
  const head = await source.read(0, Math.min(16, source.size));
  const reader = READERS.find((r) => r.sniff(head, source.name));
  if (!reader) {
    throw new CheckpointError(
      'UnsupportedFormat',
      `${source.name} is not a checkpoint format LoRA Lens reads (supported: ${READERS.map((r) => r.format).join(', ')})`,
    );
  }
  return reader.open(source, context);
}

/** Opens one file of a folder, with the folder at hand for its side files; closed on failure. */
export async function openFileIn(siblings: Siblings, name: string): Promise<Checkpoint> {
  const source = await siblings.open(name);
  try {
    return await openCheckpoint(source, { siblings });
  } catch (e) {
    await source.close();
    throw e;
  }
}

async function openEntry(siblings: Siblings, name: string): Promise<Checkpoint> {
  return isShardIndexName(name)
    ? openShardedIndex(siblings, name, openFileIn)
    : openFileIn(siblings, name);
}

/** Parsed side files (adapter_config.json, config.json) next to a checkpoint. */
async function readConfigs(siblings: Siblings): Promise<Record<string, PlainValue> | undefined> {
  const out: Record<string, PlainValue> = {};
  for (const name of CONFIG_FILES) {
    if (await siblings.exists(name))
      out[name] = (await readJsonFile(
        siblings,
        name,
        MAX_CONFIG_BYTES,
        'InvalidConfig',
      )) as PlainValue;
  }
  return Object.keys(out).length ? out : undefined;
}

function withConfigs(
  ckpt: Checkpoint,
  configs: Record<string, PlainValue> | undefined,
): Checkpoint {
  if (!configs) return ckpt;
  // Keep the prototype (methods) and add the configs.
  return Object.assign(Object.create(ckpt) as Checkpoint, {
    configs: { ...(ckpt.configs ?? {}), ...configs },
  });
}

/** A model or adapter folder: picks its checkpoint as transformers/PEFT would and attaches its configs. */
export async function openFolder(siblings: Siblings): Promise<Checkpoint> {
  const files = await siblings.list();
  const present = new Set(files);
  let entry = FOLDER_CANDIDATES.find((c) => present.has(c));
  entry ??= files.find((f) => isShardIndexName(f));
  const singles = files.filter((f) => /\.(safetensors|gguf|onnx)$/i.test(f));
  if (!entry && singles.length === 1) entry = singles[0];
  if (!entry) {
    throw new CheckpointError(
      'UnsupportedFormat',
      `no checkpoint found in ${siblings.label}: looked for ${FOLDER_CANDIDATES.slice(0, 4).join(', ')}, … or a single .safetensors/.gguf/.onnx file${singles.length > 1 ? ` (found ${singles.length}; open one of them)` : ''}`,
    );
  }
  const configs = await readConfigs(siblings);
  return withConfigs(await openEntry(siblings, entry), configs);
}

/**
 * Opens anything the user can point at: a checkpoint file, a shard index, a model or adapter folder, or a
 * Hub repo (`hf:org/name[@revision]`). Only headers are read.
 */
export async function openPath(target: string, options: OpenOptions = {}): Promise<Checkpoint> {
  return logicalView(await openStored(target, options));
}

/**
 * Quantized weights (GPTQ, AWQ, bitsandbytes, FP8, compressed-tensors, GGUF blocks) as one logical
 * tensor each; a layout that is clearly quantized but broken is refused by name, never half-read.
 */
export async function logicalView(ckpt: Checkpoint): Promise<Checkpoint> {
  try {
    return await withQuantizedWeights(ckpt);
  } catch (e) {
    await ckpt.close();
    throw e;
  }
}

async function openStored(target: string, options: OpenOptions): Promise<Checkpoint> {
  const hub = parseHubRef(target);
  if (hub) return openFolder(new HubRepo(hub.repo, hub.revision, options.hub));
  let isDir: boolean;
  try {
    isDir = (await stat(target)).isDirectory();
  } catch (e) {
    throw toCheckpointError(e);
  }
  if (isDir) return openFolder(new LocalFolder(target));
  const folder = new LocalFolder(dirname(target));
  const name = basename(target);
  const ckpt = await openEntry(folder, name);
  // An adapter opened directly still wants its adapter_config.json (rank and alpha patterns).
  const configs = /^(adapter_model|model|pytorch_model|diffusion_pytorch_model)\b/.test(name)
    ? await readConfigs(folder).catch(() => undefined)
    : undefined;
  return withConfigs(ckpt, configs);
}
