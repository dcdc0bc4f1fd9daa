import type { ModelDims, ModelFacts } from '../types.js';
import type { DimKey, Part } from './part.js';

type Config = Readonly<Record<string, unknown>>;

/** The text model's config: multimodal configs nest it under `text_config`. */
export function textConfig(facts: ModelFacts): Config | null {
  const c = facts.config;
  if (c === null || typeof c !== 'object') return null;
  const inner = c['text_config'];
  if (
    c['hidden_size'] === undefined &&
    inner !== null &&
    typeof inner === 'object' &&
    !Array.isArray(inner)
  ) {
    return inner as Config;
  }
  return c;
}

export function modelType(cfg: Config | null): string | null {
  const t = cfg?.['model_type'];
  return typeof t === 'string' ? t : null;
}

/** First key that holds a positive integer. */
export function intOf(
  cfg: Config | null,
  ...names: string[]
): { key: string; value: number } | null {
  if (cfg === null) return null;
  for (const key of names) {
    const v = cfg[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return { key, value: v };
  }
  return null;
}

export function boolOf(cfg: Config | null, key: string): boolean | null {
  const v = cfg?.[key];
  return typeof v === 'boolean' ? v : null;
}

/** A config figure and the key (or rule) it came from. */
export interface Figure<T> {
  readonly value: T;
  readonly key: string;
}
export type ConfigDims = { [K in DimKey]?: Figure<NonNullable<ModelDims[K]>> | null };

/** The usual HF keys; families add their own defaults through `extra`. */
export function standardConfigDims(cfg: Config, extra: ConfigDims = {}): ConfigDims {
  const hidden = intOf(cfg, 'hidden_size', 'n_embd', 'd_model');
  const heads = intOf(cfg, 'num_attention_heads', 'n_head', 'num_heads');
  const kv =
    intOf(cfg, 'num_key_value_heads', 'num_kv_heads') ??
    (heads ? { key: 'num_attention_heads (no KV key)', value: heads.value } : null);
  let headDim = intOf(cfg, 'head_dim', 'd_kv');
  if (headDim === null && hidden !== null && heads !== null && hidden.value % heads.value === 0) {
    headDim = { key: `${hidden.key} / ${heads.key}`, value: hidden.value / heads.value };
  }
  const experts = intOf(cfg, 'num_local_experts', 'num_experts');
  const tied = boolOf(cfg, 'tie_word_embeddings');
  return {
    hiddenSize: hidden,
    numLayers: intOf(cfg, 'num_hidden_layers', 'n_layer', 'num_layers'),
    numAttentionHeads: heads,
    numKeyValueHeads: kv,
    headDim,
    intermediateSize: intOf(
      cfg,
      'intermediate_size',
      'ffn_dim',
      'n_inner',
      'd_ff',
      'ffn_hidden_size',
    ),
    vocabSize: intOf(cfg, 'vocab_size'),
    numExperts: experts ?? { key: 'no num_local_experts (dense)', value: 0 },
    tiedEmbeddings: tied === null ? null : { key: 'tie_word_embeddings', value: tied },
    ...extra,
  };
}

const ORDER: readonly DimKey[] = [
  'hiddenSize',
  'numLayers',
  'numAttentionHeads',
  'numKeyValueHeads',
  'headDim',
  'intermediateSize',
  'vocabSize',
  'numExperts',
  'tiedEmbeddings',
];

/**
 * Takes the config's figures (they are what the model was built from) and says where the shapes agree or
 * disagree; figures the config lacks stay as the shapes gave them.
 */
export function applyConfig(part: Part, cd: ConfigDims): void {
  const agreed: string[] = [];
  for (const k of ORDER) {
    const fig = cd[k];
    if (fig === undefined || fig === null) continue;
    const fromShapes = part.dims[k];
    if (fromShapes !== null && fromShapes !== fig.value) {
      part.note(
        'config',
        `config ${fig.key} = ${String(fig.value)} but the shapes give ${String(fromShapes)}`,
      );
    } else if (fromShapes !== null) agreed.push(fig.key);
    part.assign(k, fig.value);
  }
  if (agreed.length > 0)
    part.note('config', `config.json agrees with the shapes on ${agreed.join(', ')}`);
}

/** Shape checks that need the config's head counts: rows = heads × head_dim. */
export function checkRows(
  part: Part,
  label: string,
  rows: number | null,
  heads: number | null,
): void {
  const hd = part.dims.headDim;
  if (rows === null || heads === null || hd === null) return;
  if (rows === heads * hd)
    part.note('config', `${label} ${rows} rows = ${heads} heads × head_dim ${hd}`);
  else
    part.note(
      'config',
      `${label} has ${rows} rows, not ${heads} heads × head_dim ${hd} from config.json`,
    );
}
