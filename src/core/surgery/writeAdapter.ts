/**
 * Writes a weights-only adapter from computed factors, in the source's naming (outputNaming.ts),
 * atomically: one safetensors file, plus adapter_config.json beside it for PEFT. `out` ending in
 * .safetensors is the file; anything else is a folder that gets adapter_model.safetensors.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { refuseSources, writeJsonAtomically } from '../export/atomicFile.js';
import { writeSafetensors, type TensorToWrite } from '../export/safetensorsWriter.js';
import type { Checkpoint, PlainValue, TensorInfo } from '../formats/checkpoint.js';
import type { LoraFamily, LoraModule } from '../lora/types.js';
import { castModule, type StoreDtype } from './castReport.js';
import type { LowRank } from './lowRank.js';
import { memoryCheckpoint, type MemoryTensor } from './memoryCheckpoint.js';
import { moduleNames, pairShapes, type ScaleStyle } from './outputNaming.js';
import { peftOutputConfig } from './peftOutputConfig.js';

export interface OutputModule {
  /** The module whose names, kind and kernel the output keeps. */
  readonly template: LoraModule;
  readonly kernel: readonly number[] | null;
  readonly factors: LowRank;
  /** Not a plain pair in the source (LoHa, LoKr, AdaLoRA, …): written under LoRA names. */
  readonly converted: boolean;
  readonly magnitude?: { readonly tensor: TensorInfo; readonly checkpoint: Checkpoint };
}

export interface WriteAdapterRequest {
  readonly out: string;
  readonly style: ScaleStyle;
  /** The adapter the naming comes from: its metadata and adapter_config.json are the starting point. */
  readonly source: Checkpoint;
  readonly modules: readonly PreparedModule[];
  /** Files that must never be written (the inputs, their folders' files). */
  readonly protect: readonly string[];
  /** lora_lens.* keys for the metadata. */
  readonly notes: Readonly<Record<string, string>>;
}

export interface WrittenModule {
  readonly down: string;
  readonly up: string;
  readonly rank: number;
  /** The alpha written (tensor or pattern); null when the scale is folded into B. */
  readonly alpha: number | null;
  /** ‖ΔW_stored − ΔW‖_F / ‖ΔW‖_F from the dtype. */
  readonly castError: number;
  /** Bytes of the module's tensors in the output. */
  readonly bytes: number;
}

export interface WriteAdapterResult {
  readonly weights: string;
  readonly config?: string;
  readonly tensors: number;
  readonly bytes: number;
  readonly modules: readonly WrittenModule[];
}

function outputPaths(out: string): { weights: string; folder: boolean } {
  if (/\.safetensors$/i.test(out)) return { weights: out, folder: false };
  return { weights: join(out, 'adapter_model.safetensors'), folder: true };
}

/** Stored value of a module scale that is not folded: F32 scalar (a BF16 alpha would move the scale). */
function alphaBytes(alpha: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, alpha, true);
  return b;
}

function kohyaMetadata(
  meta: Record<string, string>,
  written: readonly WrittenModule[],
  converted: boolean,
): void {
  const ranks = new Set(written.map((w) => w.rank));
  const alphas = new Set(written.map((w) => w.alpha));
  meta['ss_network_dim'] = ranks.size === 1 ? String([...ranks][0]) : 'Dynamic';
  meta['ss_network_alpha'] = alphas.size === 1 ? String([...alphas][0]) : 'Dynamic';
  if (converted) {
    meta['ss_network_module'] = 'networks.lora';
    delete meta['ss_network_args'];
  }
}

/** One module ready to write: its stored tensors (already cast) and what the report needs. */
export interface PreparedModule {
  readonly template: LoraModule;
  readonly converted: boolean;
  readonly hasMagnitude: boolean;
  readonly tensors: readonly MemoryTensor[];
  readonly copies: readonly TensorToWrite[];
  readonly written: WrittenModule;
}

/**
 * Names, casts and encodes one module right away, so a resize holds only the stored bytes of the
 * modules done so far, never their float64 factors.
 */
export function prepareModule(
  m: OutputModule,
  style: ScaleStyle,
  family: LoraFamily,
  dtype: StoreDtype,
  /** ‖ΔW‖_F of the factors when known (from σ), so the cast error needs no extra Gram. */
  norm?: number,
): PreparedModule {
  const names = moduleNames(m.template, style, family, m.converted);
  let f = m.factors;
  if (style === 'folded' && f.scale !== 1) f = { ...f, b: f.b.map((v) => v * f.scale), scale: 1 };
  // F8's power-of-two rescaling moves the scale, which a folded style cannot store.
  const cast = castModule(f, dtype, m.template.name, style !== 'folded', norm);
  const k = f.rank;
  const shapes = pairShapes(m.kernel, f.out, f.inK, k);
  const tensors: MemoryTensor[] = [
    { name: names.down, dtype, shape: shapes.down, bytes: cast.downBytes },
    { name: names.up, dtype, shape: shapes.up, bytes: cast.upBytes },
  ];
  const copies: TensorToWrite[] = [];
  let bytes = cast.downBytes.length + cast.upBytes.length;
  const alpha = style === 'folded' ? null : cast.scale * k;
  if (names.alpha !== undefined && alpha !== null) {
    tensors.push({ name: names.alpha, dtype: 'F32', shape: [], bytes: alphaBytes(alpha) });
    bytes += 4;
  }
  if (names.magnitude !== undefined && m.magnitude) {
    copies.push({
      name: names.magnitude,
      from: m.magnitude.tensor,
      checkpoint: m.magnitude.checkpoint,
    });
    bytes += m.magnitude.tensor.byteLength;
  }
  return {
    template: m.template,
    converted: m.converted,
    hasMagnitude: m.magnitude !== undefined,
    tensors,
    copies,
    written: {
      down: names.down,
      up: names.up,
      rank: k,
      alpha,
      castError: cast.relativeError,
      bytes,
    },
  };
}

export async function writeAdapter(req: WriteAdapterRequest): Promise<WriteAdapterResult> {
  const { weights, folder } = outputPaths(req.out);
  const configPath =
    req.style === 'peft-config' ? join(dirname(weights), 'adapter_config.json') : undefined;
  await refuseSources([weights, ...(configPath ? [configPath] : [])], req.protect);
  const written = req.modules.map((m) => m.written);
  const memory = memoryCheckpoint(req.modules.flatMap((m) => m.tensors));
  const tensors: TensorToWrite[] = [
    ...memory.tensors.map((t) => ({ name: t.name, from: t, checkpoint: memory })),
    ...req.modules.flatMap((m) => m.copies),
  ];
  const meta: Record<string, string> = {};
  if (req.source.format === 'safetensors')
    for (const [key, value] of Object.entries(req.source.metadata))
      if (!key.startsWith('lora_lens.') && !key.startsWith('sshs_')) meta[key] = value;
  meta['format'] = 'pt';
  if (req.style === 'alpha-tensor')
    kohyaMetadata(
      meta,
      written,
      req.modules.some((m) => m.converted),
    );
  Object.assign(meta, req.notes);
  if (folder) await mkdir(req.out, { recursive: true });
  const result = await writeSafetensors(weights, tensors, meta, { protect: [...req.protect] });
  let config: string | undefined;
  if (configPath) {
    const value: Record<string, PlainValue> = peftOutputConfig(req.source, req.modules);
    await writeJsonAtomically(configPath, value, { protect: [...req.protect] });
    config = configPath;
  }
  return {
    weights,
    ...(config ? { config } : {}),
    tensors: result.tensors,
    bytes: result.bytes,
    modules: written,
  };
}
