/**
 * Writes an adapter under another family's names, following a mapping onto a base model.
 *
 * Naming rules (M = the mapped base parameter without its trailing `.weight`):
 *
 * | naming      | keys                                                         | orientation            |
 * |-------------|--------------------------------------------------------------|------------------------|
 * | `base`      | `M.lora_A.weight`, `M.lora_B.weight` (embeddings: `M.lora_embedding_A/B`), `M.lora_magnitude_vector` | as the base stores the parameter: A [r,in] / B [out,r], or A [in,r] / B [r,out] when the target is stored transposed (ONNX MatMul, Conv1D), so `B·A` (resp. `A·B`) has the stored shape |
 * | `peft`      | `base_model.model.M.lora_A.weight` / `.lora_B.weight` (+ adapter_config.json) | standard [r,in] / [out,r]; transposed targets set `fan_in_fan_out` |
 * | `kohya`     | `lora_unet_…` / `lora_te_…` / `lora_te1_…` / `lora_te2_…` (dots → `_`) + `.lora_down.weight` / `.lora_up.weight` / `.alpha` (0-d F32) | standard |
 * | `diffusers` | `<component>.M.lora_A.weight` / `.lora_B.weight`, config in `lora_adapter_metadata` | standard |
 * | `gguf`      | `blk.N.attn_q.weight.lora_a` / `.lora_b` (llama.cpp names; as safetensors — converting to .gguf is a separate step) | numpy order as llama.cpp's converter writes it: lora_a [r,in], lora_b [out,r]; Llama Q/K rows RoPE-permuted on request |
 *
 * The effective scale of every module is kept: where a family stores alpha, it is written as
 * `alpha = scale × rank` (so rsLoRA or a baked scale turn into a plain alpha/rank).
 *
 * Bytes are copied as they are unless the orientation changes (MLX/ONNX adapters into standard
 * families, or standard adapters onto transposed `base` targets) or a row permutation is asked for; then
 * one tensor at a time is rearranged in memory. These families address whole parameters, so with a
 * base (`options.base`) modules that patch slices of one fused parameter are first fused into one
 * module, and fused modules whose base keeps q/k/v (gate/up) apart are split (convert.ts); without a
 * base, slices are refused with an `InvalidExport` error that lists them. Modules without a target, with a shape mismatch, of kinds
 * without a plain A/B pair (LoHa, LoKr, IA3, OFT, Tucker `lora_mid`…) or whose DoRA magnitude the naming
 * cannot hold are left out and listed in `skipped`.
 */
import type { Checkpoint, PlainValue, TensorInfo } from '../../formats/checkpoint.js';
import { DTYPE_BITS, isDType } from '../../formats/dtypes.js';
import { CheckpointError } from '../../formats/errors.js';
import { writeSafetensors, type TensorToWrite } from '../../export/safetensorsWriter.js';
import type { LoraAnalysis, LoraModule } from '../../lora/types.js';
import type { MappingResult } from '../types.js';
import type { ConversionRecord } from './conversion.js';
import { convertFused } from './convert.js';

export type ExportNaming = 'base' | 'peft' | 'kohya' | 'diffusers' | 'gguf';
export const EXPORT_NAMINGS: readonly ExportNaming[] = [
  'base',
  'peft',
  'kohya',
  'diffusers',
  'gguf',
];

export interface RopePermutation {
  /** Attention heads (permutes q rows). */
  readonly nHead: number;
  /** Key/value heads (permutes k rows). */
  readonly nHeadKv: number;
}

export interface RemapOptions {
  readonly out: string;
  readonly naming: ExportNaming;
  /** Files never written to (the adapter, the base, their configs). */
  readonly sourcePaths: readonly string[];
  /**
   * `gguf` only: permute the rows of B for `attn_q` / `attn_k` as llama.cpp's converter does for Llama
   * (HF rotary layout → GGUF's). Pass it when the base architecture is Llama-like and the adapter is in
   * HF order; `ropeFromConfig` reads it from a base config.
   */
  readonly ropePermute?: RopePermutation | null;
  /** `diffusers` only: the component when the base names carry none (`transformer`, `unet`, …). */
  readonly component?: string;
  /**
   * The base the mapping points into: with it, split modules on slices of a fused parameter are fused
   * and fused modules onto split parameters are split (convert.ts); without it, slices are refused.
   */
  readonly base?: Checkpoint;
}

export interface RemappedModule {
  readonly module: string;
  readonly target: string;
  readonly keys: readonly string[];
  /** Whether any tensor of the module was rearranged (transposed or permuted) instead of copied. */
  readonly rewritten: boolean;
}

export interface RemapResult {
  readonly out: string;
  readonly naming: ExportNaming;
  readonly tensors: number;
  readonly bytes: number;
  readonly modules: readonly RemappedModule[];
  readonly skipped: readonly { readonly module: string; readonly reason: string }[];
  readonly warnings: readonly string[];
  /** adapter_config.json content (`peft` naming) to write beside the output. */
  readonly adapterConfig?: Record<string, PlainValue>;
  /** Fused ↔ split conversions made on the way (empty when none). */
  readonly conversions: readonly ConversionRecord[];
}

/** M: the base parameter without its trailing `.weight`. */
export function baseModulePath(target: string): string {
  return target.endsWith('.weight') ? target.slice(0, -'.weight'.length) : target;
}

const TE_PREFIXES: readonly [RegExp, string][] = [
  [/^text_encoder_2\./, 'lora_te2_'],
  [/^text_encoder_3\./, 'lora_te3_'],
  [/^conditioner\.embedders\.1\.model\./, 'lora_te2_'],
  [/^conditioner\.embedders\.0\.transformer\./, 'lora_te1_'],
  [/^cond_stage_model\.transformer\./, 'lora_te_'],
];

/** kohya name of a base module: component prefix, then every `.` becomes `_`. */
export function kohyaName(path: string, hasSecondTextEncoder: boolean): string {
  for (const [re, prefix] of TE_PREFIXES)
    if (re.test(path)) return prefix + path.replace(re, '').replace(/\./g, '_');
  if (path.startsWith('text_encoder.'))
    return (
      (hasSecondTextEncoder ? 'lora_te1_' : 'lora_te_') +
      path.slice('text_encoder.'.length).replace(/\./g, '_')
    );
  if (path.startsWith('text_model.')) return 'lora_te_' + path.replace(/\./g, '_');
  const unet = path.replace(/^(unet|transformer|model\.diffusion_model|diffusion_model)\./, '');
  return 'lora_unet_' + unet.replace(/\./g, '_');
}

const DIFFUSERS_COMPONENTS = /^(unet|transformer|prior|text_encoder(?:_\d)?)\./;

/** diffusers component and in-component path of a base module. */
export function diffusersName(
  path: string,
  component?: string,
): { component: string; path: string } {
  const m = DIFFUSERS_COMPONENTS.exec(path);
  if (m?.[1]) return { component: m[1], path: path.slice(m[0].length) };
  if (component) return { component, path };
  if (/^(down_blocks|mid_block|up_blocks|conv_in|conv_out|time_embedding)\b/.test(path))
    return { component: 'unet', path };
  if (/^text_model\./.test(path)) return { component: 'text_encoder', path };
  return { component: 'transformer', path };
}

const GGUF_LAYER: readonly [RegExp, string][] = [
  [/^self_attn\.q_proj$/, 'attn_q'],
  [/^self_attn\.k_proj$/, 'attn_k'],
  [/^self_attn\.v_proj$/, 'attn_v'],
  [/^self_attn\.o_proj$/, 'attn_output'],
  [/^self_attn\.qkv_proj$/, 'attn_qkv'],
  [/^self_attention\.query_key_value$/, 'attn_qkv'],
  [/^attention\.query_key_value$/, 'attn_qkv'],
  [/^mlp\.gate_proj$/, 'ffn_gate'],
  [/^mlp\.up_proj$/, 'ffn_up'],
  [/^mlp\.down_proj$/, 'ffn_down'],
  [/^mlp\.gate_up_proj$/, 'ffn_up'],
  [/^attn\.c_attn$/, 'attn_qkv'],
  [/^attn\.c_proj$/, 'attn_output'],
  [/^mlp\.c_fc$/, 'ffn_up'],
  [/^mlp\.c_proj$/, 'ffn_down'],
];

/**
 * llama.cpp tensor name of a base parameter (`blk.7.attn_q.weight`), from HF names
 * (gguf-py tensor_mapping.py, the common rows), or the name itself when it already is one.
 */
export function ggufName(target: string): string | null {
  if (/^(blk\.\d+\.|token_embd\.|output\.|output_norm\.)/.test(target))
    return target.endsWith('.weight') ? target : `${target}.weight`;
  const path = baseModulePath(target);
  if (/^(model\.)?embed_tokens$|^transformer\.wte$/.test(path)) return 'token_embd.weight';
  if (path === 'lm_head') return 'output.weight';
  const m = /^(?:model\.|transformer\.)?(?:layers|h|decoder\.layers)\.(\d+)\.(.+)$/.exec(path);
  if (!m) return null;
  for (const [re, name] of GGUF_LAYER) if (re.test(m[2] ?? '')) return `blk.${m[1]}.${name}.weight`;
  return null;
}

/** The RoPE row permutation llama.cpp's converter applies, from a base's config.json or GGUF metadata. */
export function ropeFromConfig(base: Checkpoint): RopePermutation | null {
  const cfg = base.configs?.['config.json'];
  if (cfg && typeof cfg === 'object' && !Array.isArray(cfg)) {
    const type = cfg.model_type;
    const heads = cfg.num_attention_heads;
    const kv = cfg.num_key_value_heads ?? heads;
    // LlamaModel.permute is applied for these model types in convert_hf_to_gguf.py.
    if (
      typeof type === 'string' &&
      /^(llama|mistral|mixtral|granite|granitemoe)$/.test(type) &&
      typeof heads === 'number' &&
      typeof kv === 'number'
    )
      return { nHead: heads, nHeadKv: kv };
    return null;
  }
  if (base.metadata['general.architecture'] === 'llama') {
    const heads = Number(base.metadata['llama.attention.head_count']);
    const kv = Number(base.metadata['llama.attention.head_count_kv'] ?? heads);
    if (Number.isInteger(heads) && heads > 0 && Number.isInteger(kv) && kv > 0)
      return { nHead: heads, nHeadKv: kv };
  }
  return null;
}

/** What one output tensor is: a source tensor copied, or rearranged. */
interface Planned {
  readonly name: string;
  readonly source: TensorInfo;
  readonly transpose: boolean;
  /** Heads for the RoPE row permutation of a 2-D [out, r] tensor. */
  readonly permuteHeads?: number;
}

/** Scalar tensors we create (kohya `.alpha`). */
interface Created {
  readonly name: string;
  readonly value: number;
}

const PAIR_KINDS = new Set(['linear', 'conv', 'embedding']);
const KNOWN_PARTS = new Set(['down', 'up', 'alpha', 'magnitude', 'dora_scale']);

function effectiveAlpha(m: LoraModule, warnings: string[]): number {
  const rank = m.rank ?? 0;
  if (m.scale !== null && rank > 0) return m.scale * rank;
  if (m.alpha !== null) return m.alpha;
  warnings.push(`${m.name}: scale unknown; written with alpha = rank (scale 1)`);
  return rank;
}

/**
 * Writes the remapped adapter (weights only, atomically, never over a source). Returns what was written
 * and what was left out.
 */
export async function exportRemapped(
  source: Checkpoint,
  sourceAnalysis: LoraAnalysis,
  mapped: MappingResult,
  options: RemapOptions,
): Promise<RemapResult> {
  const naming = options.naming;
  if (!EXPORT_NAMINGS.includes(naming))
    throw new CheckpointError(
      'InvalidExport',
      `unknown naming "${String(naming)}" (use ${EXPORT_NAMINGS.join(', ')})`,
    );
  const converted = options.base
    ? convertFused(source, sourceAnalysis, mapped, options.base)
    : null;
  const adapter = converted?.adapter ?? source;
  const analysis = converted?.analysis ?? sourceAnalysis;
  const result = converted?.mapping ?? mapped;
  const convertedNames = new Set(
    converted?.conversions.flatMap((c) =>
      c.kind === 'fuse'
        ? [`${c.fused.replace(/\.weight$/, '')} (fused)`]
        : c.members.map((x) => x.module),
    ),
  );
  const byName = new Map(analysis.modules.map((m) => [m.name, m]));
  const sliced = result.mappings.filter((e) => e.slice !== null);
  if (sliced.length) {
    throw new CheckpointError(
      'InvalidExport',
      `${sliced.length} module(s) patch a slice of a fused parameter, which the ${naming} naming cannot express (it addresses whole parameters) unless they are fused, which needs the base: ${sliced
        .map((e) => `${e.module} → ${e.target}[${e.slice?.start}:${e.slice?.end}]`)
        .join(
          ', ',
        )}. Export with the base, re-target or reject them, or apply the mapping with the Python snippet`,
      sliced[0]?.module,
    );
  }
  const skipped: { module: string; reason: string }[] = [...(converted?.skipped ?? [])];
  for (const u of result.unmatchedAdapter) skipped.push({ module: u, reason: 'no target' });
  const warnings: string[] = [];
  const planned: Planned[] = [];
  const created: Created[] = [];
  const modules: RemappedModule[] = [];
  const taken = new Map<string, string>();
  const hasTe2 = result.mappings.some((e) =>
    /^(text_encoder_2\.|conditioner\.embedders\.1\.)/.test(e.target),
  );
  /** PEFT / diffusers config rows. */
  const cfgRows: { path: string; component: string; rank: number; alpha: number }[] = [];
  let anyTransposed = false;
  let anyDora = false;

  for (const entry of result.mappings) {
    const m = byName.get(entry.module);
    const skip = (reason: string) => skipped.push({ module: entry.module, reason });
    if (!m) {
      skip('not a module of this adapter');
      continue;
    }
    if (entry.shapeCheck === 'mismatch') {
      skip(`shape mismatch with ${entry.target}`);
      continue;
    }
    if (!PAIR_KINDS.has(m.kind)) {
      skip(`${m.label} has no plain A/B pair to write`);
      continue;
    }
    const extra = Object.keys(m.parts).filter((p) => !KNOWN_PARTS.has(p));
    if (extra.length) {
      skip(`parts ${extra.join(', ')} have no form in the ${naming} naming`);
      continue;
    }
    const down = m.parts.down ? adapter.tensor(m.parts.down) : undefined;
    const up = m.parts.up ? adapter.tensor(m.parts.up) : undefined;
    if (!down || !up || m.rank === null) {
      skip('the A/B pair is incomplete');
      continue;
    }
    const bad = [down, up].find((t) => !isDType(t.dtype) || DTYPE_BITS[t.dtype] % 8 !== 0);
    if (bad) {
      skip(`tensor ${bad.name} has dtype ${bad.dtype}, which cannot be copied into safetensors`);
      continue;
    }
    const sourceTransposed = m.orientation === 'transposed';
    const wantTransposed = naming === 'base' && entry.transposed;
    const transpose = sourceTransposed !== wantTransposed;
    if (transpose && (down.shape.length !== 2 || up.shape.length !== 2)) {
      skip(`cannot change the orientation of ${down.shape.length}-D tensors`);
      continue;
    }
    if (entry.transposed) anyTransposed = true;
    const path = baseModulePath(entry.target);
    const isEmbedding = m.kind === 'embedding';

    // Names of A, B and the optional DoRA tensor in this naming.
    let aName: string;
    let bName: string;
    let doraName: string | null = null;
    let permuteHeads: number | undefined;
    let component = '';
    let cfgPath = path;
    const dora = m.dora;
    switch (naming) {
      case 'base':
      case 'peft': {
        const prefix = naming === 'peft' ? `base_model.model.${path}` : path;
        aName = isEmbedding ? `${prefix}.lora_embedding_A` : `${prefix}.lora_A.weight`;
        bName = isEmbedding ? `${prefix}.lora_embedding_B` : `${prefix}.lora_B.weight`;
        if (dora) doraName = dora.axis === 'out' ? `${prefix}.lora_magnitude_vector` : null;
        break;
      }
      case 'kohya': {
        if (isEmbedding) {
          skip('kohya has no embedding LoRA');
          continue;
        }
        const k = kohyaName(path, hasTe2);
        aName = `${k}.lora_down.weight`;
        bName = `${k}.lora_up.weight`;
        if (dora) doraName = dora.axis === 'in' ? `${k}.dora_scale` : null;
        created.push({ name: `${k}.alpha`, value: effectiveAlpha(m, warnings) });
        break;
      }
      case 'diffusers': {
        if (isEmbedding) {
          skip('diffusers loads no embedding LoRA');
          continue;
        }
        const d = diffusersName(path, options.component);
        component = d.component;
        cfgPath = d.path;
        if (/^(model\.)?diffusion_model\./.test(path))
          warnings.push(
            `${entry.target} is an original (LDM/BFL) name; diffusers expects diffusers names for ${d.component}`,
          );
        aName = `${d.component}.${d.path}.lora_A.weight`;
        bName = `${d.component}.${d.path}.lora_B.weight`;
        if (dora)
          doraName = dora.axis === 'out' ? `${d.component}.${d.path}.lora_magnitude_vector` : null;
        break;
      }
      case 'gguf': {
        const g = ggufName(entry.target);
        if (!g) {
          skip(`no llama.cpp name for ${entry.target}`);
          continue;
        }
        if (isEmbedding) {
          skip(
            'embedding LoRA for llama.cpp is not written (its converter transposes token_embd pairs)',
          );
          continue;
        }
        if (dora) {
          skip('llama.cpp adapters have no DoRA');
          continue;
        }
        aName = `${g}.lora_a`;
        bName = `${g}.lora_b`;
        const rope = options.ropePermute;
        if (rope && analysis.family !== 'gguf') {
          if (/\.attn_q\.weight$/.test(g)) permuteHeads = rope.nHead;
          else if (/\.attn_k\.weight$/.test(g)) permuteHeads = rope.nHeadKv;
        }
        break;
      }
    }
    if (dora && !doraName) {
      skip(`its DoRA magnitude (per ${dora.axis} feature) has no form in the ${naming} naming`);
      continue;
    }
    const owner = taken.get(aName);
    if (owner) {
      skip(`${entry.target} is already written for ${owner}`);
      if (naming === 'kohya') created.pop();
      continue;
    }
    taken.set(aName, entry.module);
    // Logical A/B: standard [r,in]/[out,r]; a transposed source has down [in,r] / up [r,out].
    const aPlan: Planned = { name: aName, source: down, transpose };
    const bPlan: Planned = {
      name: bName,
      source: up,
      transpose,
      ...(permuteHeads !== undefined ? { permuteHeads } : {}),
    };
    if (permuteHeads !== undefined) {
      const rows = transpose ? (up.shape[1] ?? 0) : (up.shape[0] ?? 0);
      if (up.shape.length !== 2 || rows % (permuteHeads * 2) !== 0) {
        skip(`B has ${rows} rows, which ${permuteHeads} heads cannot permute`);
        taken.delete(aName);
        continue;
      }
    }
    planned.push(aPlan, bPlan);
    const keys = [aName, bName];
    if (dora && doraName && m.dora) {
      planned.push({ name: doraName, source: adapter.tensor(m.dora.tensor), transpose: false });
      keys.push(doraName);
      anyDora = true;
    }
    if (naming === 'kohya') keys.push((created[created.length - 1] as Created).name);
    modules.push({
      module: entry.module,
      target: entry.target,
      keys,
      rewritten: transpose || permuteHeads !== undefined || convertedNames.has(entry.module),
    });
    cfgRows.push({ path: cfgPath, component, rank: m.rank, alpha: effectiveAlpha(m, []) });
  }
  if (modules.length === 0)
    throw new CheckpointError(
      'InvalidExport',
      `no module can be written in the ${naming} naming${
        skipped.length
          ? `: ${skipped
              .slice(0, 5)
              .map((s) => `${s.module} (${s.reason})`)
              .join('; ')}`
          : ''
      }`,
    );

  const metadata: Record<string, string> = {
    format: 'pt',
    'lora_lens.naming': naming,
    'lora_lens.source': options.sourcePaths[0] ?? '',
    'lora_lens.family': analysis.family,
    'lora_lens.modules': String(modules.length),
  };
  let adapterConfig: Record<string, PlainValue> | undefined;
  if (naming === 'peft') {
    adapterConfig = peftAdapterConfig(cfgRows, anyDora, anyTransposed);
  } else if (naming === 'diffusers') {
    const packed: Record<string, PlainValue> = {};
    for (const comp of [...new Set(cfgRows.map((r) => r.component))].sort()) {
      const cfg = peftAdapterConfig(
        cfgRows.filter((r) => r.component === comp),
        anyDora,
        false,
      );
      for (const k of [
        'r',
        'lora_alpha',
        'target_modules',
        'rank_pattern',
        'alpha_pattern',
        'use_dora',
      ])
        packed[`${comp}.${k}`] = cfg[k] ?? null;
    }
    const sorted = Object.fromEntries(
      Object.keys(packed)
        .sort()
        .map((k) => [k, packed[k]]),
    );
    metadata.lora_adapter_metadata = JSON.stringify(sorted, null, 2);
  } else if (naming === 'base') {
    const scales: Record<string, number> = {};
    for (const r of cfgRows) scales[r.path] = r.alpha / r.rank;
    const distinct = new Set(Object.values(scales));
    if (distinct.size === 1) metadata['lora_lens.scale'] = String([...distinct][0]);
    else metadata['lora_lens.scales'] = JSON.stringify(scales);
    metadata['lora_lens.orientation'] = result.mappings.some((e) => e.transposed)
      ? 'stored (transposed targets: A [in,r], B [r,out])'
      : 'standard (A [r,in], B [out,r])';
  } else if (naming === 'gguf') {
    const alphas = new Set(cfgRows.map((r) => r.alpha));
    const first = cfgRows[0]?.alpha ?? 0;
    metadata['adapter.lora.alpha'] = String(first);
    if (alphas.size > 1)
      warnings.push(
        `modules have different alphas (${[...alphas].join(', ')}); a GGUF adapter holds one adapter.lora.alpha (${first} written)`,
      );
    if (options.ropePermute === undefined || options.ropePermute === null)
      warnings.push(
        'no RoPE permutation applied to attn_q/attn_k: correct for non-Llama bases (Qwen2, Phi, …); Llama bases need it',
      );
  }

  const virtual = virtualCheckpoint(adapter, planned, created);
  const tensors: TensorToWrite[] = [
    ...planned.map((p) => {
      const copy = !p.transpose && p.permuteHeads === undefined;
      return {
        name: p.name,
        from: copy ? p.source : virtual.tensor(p.name),
        checkpoint: copy ? adapter : virtual,
      };
    }),
    ...created.map((c) => ({ name: c.name, from: virtual.tensor(c.name), checkpoint: virtual })),
  ];
  const written = await writeSafetensors(options.out, tensors, metadata, {
    protect: options.sourcePaths,
  });
  return {
    out: options.out,
    naming,
    tensors: written.tensors,
    bytes: written.bytes,
    modules,
    skipped,
    warnings,
    ...(adapterConfig ? { adapterConfig } : {}),
    conversions: converted?.conversions ?? [],
  };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mostCommon(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0] ?? 8;
  for (const [v, n] of counts) if (n > (counts.get(best) ?? 0)) best = v;
  return best;
}

/**
 * adapter_config.json for the written modules. target_modules lists the full module paths (PEFT matches
 * them exactly), rank_pattern / alpha_pattern hold the exceptions as anchored, escaped patterns.
 */
function peftAdapterConfig(
  rows: readonly { path: string; rank: number; alpha: number }[],
  useDora: boolean,
  fanInFanOut: boolean,
): Record<string, PlainValue> {
  const r = mostCommon(rows.map((x) => x.rank));
  const alpha = mostCommon(rows.filter((x) => x.rank === r).map((x) => x.alpha));
  const rankPattern: Record<string, PlainValue> = {};
  const alphaPattern: Record<string, PlainValue> = {};
  for (const x of rows) {
    if (x.rank !== r) rankPattern[escapeRegex(x.path)] = x.rank;
    if (x.alpha !== alpha) alphaPattern[escapeRegex(x.path)] = x.alpha;
  }
  return {
    peft_type: 'LORA',
    r,
    lora_alpha: alpha,
    target_modules: [...new Set(rows.map((x) => x.path))].sort(),
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    use_rslora: false,
    use_dora: useDora,
    fan_in_fan_out: fanInFanOut,
    bias: 'none',
    lora_dropout: 0,
    modules_to_save: null,
    base_model_name_or_path: null,
    task_type: null,
    inference_mode: true,
  };
}

/**
 * A checkpoint whose tensors are computed when read: transposed or row-permuted source tensors and
 * created scalars. Each is produced only when the writer asks for it, so memory holds one tensor.
 */
function virtualCheckpoint(
  source: Checkpoint,
  planned: readonly Planned[],
  created: readonly Created[],
): Checkpoint {
  const infos = new Map<string, TensorInfo>();
  const produce = new Map<string, () => Promise<Uint8Array>>();
  for (const p of planned) {
    if (!p.transpose && p.permuteHeads === undefined) continue;
    const [r0 = 0, c0 = 0] = p.source.shape;
    const shape = p.transpose ? [c0, r0] : [r0, c0];
    infos.set(p.name, {
      name: p.name,
      dtype: p.source.dtype,
      shape,
      offset: -1,
      byteLength: p.source.byteLength,
      parameterCount: p.source.parameterCount,
    });
    produce.set(p.name, async () => {
      let bytes = await source.readTensorBytes(p.source);
      const size = DTYPE_BITS[p.source.dtype as keyof typeof DTYPE_BITS] / 8;
      if (p.transpose) bytes = transpose2d(bytes, r0, c0, size);
      if (p.permuteHeads !== undefined)
        bytes = permuteRows(bytes, shape[0] ?? 0, (shape[1] ?? 0) * size, p.permuteHeads);
      return bytes;
    });
  }
  for (const c of created) {
    infos.set(c.name, {
      name: c.name,
      dtype: 'F32',
      shape: [],
      offset: -1,
      byteLength: 4,
      parameterCount: 1,
    });
    produce.set(c.name, () => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, c.value, true);
      return Promise.resolve(b);
    });
  }
  const tensors = [...infos.values()];
  return {
    format: 'safetensors',
    name: `${source.name} (rearranged)`,
    fileSize: 0,
    headerByteLength: 0,
    tensors,
    metadata: {},
    parameterCount: tensors.reduce((n, t) => n + t.parameterCount, 0),
    dataBytes: tensors.reduce((n, t) => n + t.byteLength, 0),
    dtypes: [],
    tensor(name: string): TensorInfo {
      const t = infos.get(name);
      if (!t) throw new CheckpointError('TensorNotFound', `no tensor "${name}"`, name);
      return t;
    },
    async readTensorBytes(t: TensorInfo): Promise<Uint8Array> {
      const f = produce.get(t.name);
      if (!f) throw new CheckpointError('TensorNotFound', `no tensor "${t.name}"`, t.name);
      return f();
    },
    close: () => Promise.resolve(),
  };
}

/** [rows, cols] → [cols, rows], elements of `size` bytes. */
export function transpose2d(
  bytes: Uint8Array,
  rows: number,
  cols: number,
  size: number,
): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const from = (r * cols + c) * size;
      const to = (c * rows + r) * size;
      for (let k = 0; k < size; k++) out[to + k] = bytes[from + k] as number;
    }
  return out;
}

/**
 * llama.cpp's `LlamaModel.permute` on rows: reshape(heads, 2, rows/heads/2, …).swapaxes(1, 2). Row i of
 * the output is row (h, j, half) ← (h, half, j) of the input.
 */
export function permuteRows(
  bytes: Uint8Array,
  rows: number,
  rowBytes: number,
  heads: number,
): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const per = rows / heads / 2;
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < per; j++)
      for (let half = 0; half < 2; half++) {
        const src = h * 2 * per + half * per + j;
        const dst = h * 2 * per + j * 2 + half;
        out.set(bytes.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
  return out;
}
