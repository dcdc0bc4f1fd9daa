/**
 * Where the members of a fused projection sit in its output rows, so that split q/k/v (gate/up) LoRAs
 * can be written onto a fused parameter and a fused LoRA onto split ones, exactly.
 *
 * | fused name                          | members        | row order                                  |
 * |-------------------------------------|----------------|--------------------------------------------|
 * | `qkv_proj` (Phi-3), `c_attn` (GPT-2, Conv1D: the rows are its columns), Flux `qkv`, `in_proj` | q, k, v | contiguous [q; k; v] (GQA: k, v smaller) |
 * | `gate_up_proj` (Phi-3)              | gate, up       | contiguous [gate; up]                      |
 * | Flux BFL `linear1`                  | q, k, v, mlp   | contiguous [q; k; v; mlp]                  |
 * | `query_key_value` (GPT-NeoX, Bloom, Falcon), `wqkv` (InternLM2) | q, k, v | grouped per KV head: [groups, q heads per group + 2, head_dim] |
 *
 * A grouped layout needs the head counts, which only a config says; where none does, the conversion
 * is refused by name rather than guessed.
 */
import type { PlainValue } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';

export type FusedKind = 'qkv' | 'gate_up' | 'linear1';

export const FUSED_PARTS: Readonly<Record<FusedKind, readonly string[]>> = {
  qkv: ['q', 'k', 'v'],
  gate_up: ['gate', 'up'],
  linear1: ['q', 'k', 'v', 'mlp'],
};

export interface FusedLayout {
  readonly kind: FusedKind;
  /** Member rows, in FUSED_PARTS order. */
  readonly sizes: readonly number[];
  /** null: members contiguous; else rows grouped per KV head (GPT-NeoX / Falcon / InternLM2). */
  readonly grouped: { readonly groups: number; readonly headDim: number } | null;
}

const CONTIGUOUS_QKV = new Set(['qkv_proj', 'c_attn', 'qkv', 'in_proj']);
const GROUPED_QKV = new Set(['query_key_value', 'wqkv']);

/** The fused kind of a module path's leaf, and whether its rows are grouped per head. */
export function fusedKindOfPath(path: string): { kind: FusedKind; grouped: boolean } | null {
  const leaf = path.split('.').pop() ?? '';
  if (CONTIGUOUS_QKV.has(leaf)) return { kind: 'qkv', grouped: false };
  if (GROUPED_QKV.has(leaf)) return { kind: 'qkv', grouped: true };
  if (leaf === 'gate_up_proj') return { kind: 'gate_up', grouped: false };
  if (leaf === 'linear1' && /(^|\.)single_blocks\.\d+\.linear1$/.test(path))
    return { kind: 'linear1', grouped: false };
  return null;
}

export const totalRows = (l: FusedLayout): number => l.sizes.reduce((a, b) => a + b, 0);

/** Row of the fused parameter that holds row `j` of member `part` (an index into FUSED_PARTS). */
export function fusedRowOf(l: FusedLayout, part: number, j: number): number {
  if (!l.grouped) {
    let offset = 0;
    for (let i = 0; i < part; i++) offset += l.sizes[i] ?? 0;
    return offset + j;
  }
  const { groups, headDim } = l.grouped;
  const qPerGroup = (l.sizes[0] ?? 0) / groups / headDim;
  const block = (qPerGroup + 2) * headDim;
  const head = Math.floor(j / headDim);
  const d = j % headDim;
  if (part === 0) return Math.floor(head / qPerGroup) * block + (head % qPerGroup) * headDim + d;
  return head * block + (qPerGroup + part - 1) * headDim + d;
}

/** For each member, the fused rows of its rows in order: the permutation the conversion applies. */
export function memberRows(l: FusedLayout): number[][] {
  return l.sizes.map((n, p) => Array.from({ length: n }, (_, j) => fusedRowOf(l, p, j)));
}

/** Contiguous start of each member: how the matcher's slices name a member. */
export function contiguousStarts(l: FusedLayout): number[] {
  const out: number[] = [];
  let at = 0;
  for (const n of l.sizes) {
    out.push(at);
    at += n;
  }
  return out;
}

export function describeLayout(l: FusedLayout): string {
  const parts = FUSED_PARTS[l.kind].map((p, i) => `${p} ${l.sizes[i]}`).join(' + ');
  return l.grouped
    ? `${parts}, grouped per KV head (${l.grouped.groups} groups × head_dim ${l.grouped.headDim})`
    : `${parts}, contiguous`;
}

type Config = Readonly<Record<string, PlainValue>>;

const int = (v: PlainValue | undefined): number | null =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;

/** Head counts of a transformers config: attention heads, KV heads, head_dim. */
export function headsFromConfig(
  cfg: Config | null,
): { heads: number; kvHeads: number; headDim: number | null; type: string } | null {
  if (!cfg) return null;
  const heads = int(cfg.num_attention_heads) ?? int(cfg.n_head) ?? int(cfg.num_heads);
  if (!heads) return null;
  const type = typeof cfg.model_type === 'string' ? cfg.model_type : '';
  let kvHeads = int(cfg.num_key_value_heads) ?? heads;
  if (type === 'falcon') {
    if (cfg.new_decoder_architecture === true) kvHeads = int(cfg.num_kv_heads) ?? heads;
    else if (cfg.multi_query === true) kvHeads = 1;
    else kvHeads = heads;
  }
  const hidden = int(cfg.hidden_size) ?? int(cfg.n_embd);
  const headDim = int(cfg.head_dim) ?? (hidden && hidden % heads === 0 ? hidden / heads : null);
  return { heads, kvHeads, headDim, type };
}

/**
 * Falcon without new_decoder_architecture but with multi_query keeps [q; k; v] contiguous; every other
 * `query_key_value` groups its rows per KV head.
 */
export function groupedFor(type: string, cfg: Config | null): boolean {
  return !(
    type === 'falcon' &&
    cfg?.new_decoder_architecture !== true &&
    cfg?.multi_query === true
  );
}

/**
 * The grouped layout of a q/k/v parameter of `rows` rows from a config's head counts; refused by name
 * when the config is absent or its heads do not give those rows.
 */
export function groupedLayout(
  what: string,
  rows: number,
  cfg: Config | null,
  where: string,
): FusedLayout | null {
  const h = headsFromConfig(cfg);
  if (!h || !h.headDim)
    throw new CheckpointError(
      'InvalidExport',
      `${what} interleaves q, k and v per head (rows ${rows}); which rows are q, k and v is not determined without num_attention_heads (and num_key_value_heads): give ${where} a folder with config.json`,
      what,
    );
  if (!groupedFor(h.type, cfg ?? null)) return null;
  const sizes = [h.heads * h.headDim, h.kvHeads * h.headDim, h.kvHeads * h.headDim];
  const layout: FusedLayout = {
    kind: 'qkv',
    sizes,
    grouped: { groups: h.kvHeads, headDim: h.headDim },
  };
  if (totalRows(layout) !== rows || h.heads % h.kvHeads !== 0)
    throw new CheckpointError(
      'InvalidExport',
      `${what} has ${rows} rows, but ${h.heads} heads and ${h.kvHeads} KV heads of ${h.headDim} give ${describeLayout(layout)} = ${totalRows(layout)}`,
      what,
    );
  return layout;
}
