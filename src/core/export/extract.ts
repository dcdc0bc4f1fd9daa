import type { Checkpoint, PlainValue, TensorInfo } from '../formats/checkpoint.js';
import type { FloatTarget } from '../formats/encode.js';
import { CheckpointError } from '../formats/errors.js';
import type { LoraAnalysis, NonLoraCategory } from '../lora/types.js';
import { writeSafetensors, type TensorToWrite } from './safetensorsWriter.js';

/** Full weights that belong to the adapter: PEFT loads them with it, so they are kept by default. */
const ADAPTER_EXTRAS = new Set<NonLoraCategory>([
  'modules-to-save',
  'embedding',
  'trainable-tokens',
  'textual-inversion',
]);

export interface ExtractOptions {
  readonly out: string;
  readonly dtype?: FloatTarget;
  /** Drop modules_to_save copies, resized embeddings and the like: LoRA module tensors only. */
  readonly onlyLora?: boolean;
  /** The source's path, never written to, recorded in the output's metadata. */
  readonly sourcePath: string;
}

export interface ExtractResult {
  readonly out: string;
  readonly tensors: number;
  readonly bytes: number;
  readonly dropped: { name: string; reason: string }[];
  readonly renamed: number;
  readonly warnings: string[];
  /** An adapter_config.json to write beside the output (PEFT), or undefined. */
  readonly adapterConfig?: Record<string, PlainValue>;
}

/**
 * The name PEFT's save_pretrained would give a tensor found in a training checkpoint: the wrapper before
 * `base_model.model.` goes, and so does the adapter name (`lora_A.default.weight` → `lora_A.weight`,
 * `lm_head.modules_to_save.default.weight` → `lm_head.weight`).
 */
export function peftSaveName(name: string, adapter = 'default'): string {
  const at = name.indexOf('base_model.model.');
  let out = at > 0 ? name.slice(at) : name;
  const a = adapter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  out = out.replace(new RegExp(`\\.modules_to_save\\.${a}\\.`), '.');
  out = out.replace(
    new RegExp(`\\.(lora_[AB]|lora_embedding_[AB]|lora_magnitude_vector)\\.${a}(\\.|$)`),
    '.$1$2',
  );
  out = out.replace(/\.lora_embedding_([AB])\.weight$/, '.lora_embedding_$1');
  return out;
}

/** Metadata that tells a reader what the adapter is and where it came from. */
function adapterMetadata(
  ckpt: Checkpoint,
  analysis: LoraAnalysis,
  sourcePath: string,
): Record<string, string> {
  const meta: Record<string, string> = {};
  // Keep the source's own string metadata (kohya ss_* fields matter to loaders); drop nothing silently.
  if (ckpt.format === 'safetensors') Object.assign(meta, { ...ckpt.metadata });
  meta.format = 'pt';
  const ranks = analysis.summary.ranks.filter((h) => h.value !== null);
  const alphas = analysis.summary.alphas.filter((h) => h.value !== null);
  meta['lora_lens.source'] = sourcePath;
  meta['lora_lens.family'] = analysis.family;
  meta['lora_lens.modules'] = String(analysis.modules.length);
  if (ranks.length)
    meta['lora_lens.rank'] = ranks.length === 1 ? String(ranks[0]?.value) : JSON.stringify(ranks);
  if (alphas.length)
    meta['lora_lens.alpha'] =
      alphas.length === 1 ? String(alphas[0]?.value) : JSON.stringify(alphas);
  meta['lora_lens.target_modules'] = JSON.stringify(analysis.summary.targets.map((t) => t.value));
  return meta;
}

/** adapter_config.json for a PEFT adapter: the source's own when it has one, else rebuilt from the analysis. */
function peftConfig(
  ckpt: Checkpoint,
  analysis: LoraAnalysis,
  keptExtras: string[],
  warnings: string[],
): Record<string, PlainValue> | undefined {
  if (analysis.family !== 'peft') return undefined;
  const own = ckpt.configs?.['adapter_config.json'];
  if (own && typeof own === 'object' && !Array.isArray(own))
    return own as Record<string, PlainValue>;
  const rank = analysis.summary.ranks.find((h) => h.value !== null)?.value ?? 8;
  const knownAlpha = analysis.summary.alphas.find((h) => h.value !== null)?.value;
  if (knownAlpha === undefined || knownAlpha === null) {
    warnings.push(
      `lora_alpha is not stored in the checkpoint; adapter_config.json says lora_alpha = r = ${rank} (scale 1). Set it to your training value.`,
    );
  }
  const alpha = knownAlpha ?? rank;
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const m of analysis.modules) {
    if (m.rank !== null && m.rank !== rank) rankPattern[m.target] = m.rank;
    if (m.alpha !== null && m.alpha !== alpha) alphaPattern[m.target] = m.alpha;
  }
  const modulesToSave = [
    ...new Set(
      keptExtras.map(
        (n) =>
          peftSaveName(n)
            .replace(/^base_model\.model\./, '')
            .replace(/\.(weight|bias)$/, '')
            .split('.')
            .pop() ?? '',
      ),
    ),
  ].filter(Boolean);
  return {
    peft_type: 'LORA',
    r: rank,
    lora_alpha: alpha,
    target_modules: analysis.summary.targets.map((t) => t.value),
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    use_dora: analysis.modules.some((m) => m.dora !== undefined),
    modules_to_save: modulesToSave.length ? modulesToSave : null,
    bias: 'none',
    base_model_name_or_path: null,
    task_type: null,
  };
}

/**
 * Writes a weights-only adapter: the LoRA module tensors (and, unless `onlyLora`, the full weights a
 * loader needs with them), with none of the optimizer state, counters or base weights. Bytes are copied
 * unless a dtype is asked for; the write is atomic and never touches the source.
 */
export async function extractWeights(
  ckpt: Checkpoint,
  analysis: LoraAnalysis,
  options: ExtractOptions,
): Promise<ExtractResult> {
  if (analysis.modules.length === 0) {
    throw new CheckpointError(
      'InvalidExport',
      `no LoRA modules found (family: ${analysis.familyLabel}); nothing to extract`,
    );
  }
  const keep = new Map<string, TensorInfo>();
  for (const m of analysis.modules) for (const name of m.tensors) keep.set(name, ckpt.tensor(name));
  const keptExtras: string[] = [];
  const dropped: { name: string; reason: string }[] = [];
  for (const e of analysis.nonLora) {
    if (e.source !== 'tensor') continue;
    if (!options.onlyLora && ADAPTER_EXTRAS.has(e.category)) {
      keep.set(e.name, ckpt.tensor(e.name));
      keptExtras.push(e.name);
    } else dropped.push({ name: e.name, reason: e.reason });
  }
  const droppedNames = new Set(dropped.map((d) => d.name));
  for (const t of ckpt.tensors) {
    if (!keep.has(t.name) && !droppedNames.has(t.name))
      dropped.push({ name: t.name, reason: 'not part of the adapter' });
  }
  const rename = (n: string) => (analysis.family === 'peft' ? peftSaveName(n) : n);
  const tensors: TensorToWrite[] = [...keep.values()].map((t) => ({
    name: rename(t.name),
    from: t,
    checkpoint: ckpt,
    ...(options.dtype ? { dtype: options.dtype } : {}),
  }));
  const renamed = tensors.filter((t) => t.name !== t.from.name).length;
  const written = await writeSafetensors(
    options.out,
    tensors,
    adapterMetadata(ckpt, analysis, options.sourcePath),
    { protect: [options.sourcePath] },
  );
  const warnings: string[] = [];
  const adapterConfig = peftConfig(ckpt, analysis, keptExtras, warnings);
  return {
    out: options.out,
    tensors: written.tensors,
    bytes: written.bytes,
    dropped,
    renamed,
    warnings,
    ...(adapterConfig ? { adapterConfig } : {}),
  };
}
