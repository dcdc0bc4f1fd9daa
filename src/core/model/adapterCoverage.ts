/**
 * Which modules of which layers an adapter touches: a grid of rows (layers / blocks) × columns
 * (module types), each cell with the module's rank and delta norm. Linear in the modules.
 *
 * Rows: the target's path up to the last index of a block stack (`layers`, `h`, `blk`, `*_blocks`,
 * `attentions`, `resnets`, …), plus the bare indices right after it (LDM `input_blocks.4.1`). So an LLM
 * row is `model.layers.3`, a diffusers UNet row `down_blocks.1.attentions.0.transformer_blocks.0` and a
 * Flux row `double_blocks.7`. T5's `block.N.layer.M` sub-layers stay in row `block.N`. Modules outside
 * any stack (embeddings, heads, time embedders) share one row per group with `path: null`, label `other`.
 *
 * Columns: the rest of the path, normalised: q, k, v, o, qkv, gate, up, down, gate_up across naming
 * schemes (q_proj, to_q, attn_q, c_attn, query_key_value, fc1, ff.net.0.proj, …); the standard
 * containers (self_attn, attn, mlp, ff, …) are dropped and the others kept as a qualifier
 * (`attn2.q`, `img_attn.qkv`, `experts.7.gate`). Diffusers' `ff.net.0.proj` is `up` even where it is
 * GEGLU (gate and up in one matrix). Kohya's flattened names are re-dotted first.
 */
import type { ModuleStats } from '../lora/stats/types.js';
import type { LoraAnalysis, LoraModule } from '../lora/types.js';
import { naturalCompare } from '../view/naturalSort.js';
import { partOfName } from './parts.js';

export interface CoverageCell {
  /** LoraModule.name. */
  readonly module: string;
  readonly target: string;
  readonly rank: number | null;
  /** ‖scale·ΔW‖_F from the stats; null when no stats were given or the norm is unknown. */
  readonly norm: number | null;
  /** Elements of the module's own tensors (alpha scalars left out); null without shapes. */
  readonly parameters: number | null;
}

export interface CoverageRow {
  /** Unique: group and path. */
  readonly key: string;
  readonly group?: string;
  /** The block path; null for the row of modules outside any stack. */
  readonly path: string | null;
  /** `path`, or `other`. */
  readonly label: string;
  /** The first stack's index (LoraModule.layer), for LLMs the layer number; null in the other row. */
  readonly layer: number | null;
  /** Column → cell. */
  readonly cells: Readonly<Record<string, CoverageCell>>;
}

export interface AdapterCoverage {
  /** Columns in display order: unqualified first, each qualifier in canonical type order. */
  readonly columns: readonly string[];
  /** Sorted by group, then path (numbers numerically), the other row last in each group. */
  readonly rows: readonly CoverageRow[];
  readonly modules: number;
  /** Σ elements of the modules' tensors (alpha scalars left out). */
  readonly trainableParameters: number;
  /** false without shapes: then the summary's element count less one per alpha scalar. */
  readonly trainableExact: boolean;
  readonly baseParameters: number | null;
  /** trainable / base × 100; null without a base count. */
  readonly percentOfBase: number | null;
}

export interface CoverageOptions {
  /** Norms by LoraModule.name (ModuleStats work as they are). */
  readonly stats?: readonly Pick<ModuleStats, 'module' | 'norm'>[];
  /** The shape of a tensor of the adapter file, for parameter counts. */
  readonly shapeOf?: (tensor: string) => readonly number[] | undefined;
  readonly baseParameters?: number | null;
}

export const CANONICAL_TYPES: readonly string[] = [
  'q',
  'k',
  'v',
  'o',
  'qkv',
  'gate',
  'up',
  'down',
  'gate_up',
];

const NUMERIC = /^\d+$/;
const STACK =
  /^(h|blk|layers|layer|blocks|block|attentions|resnets|upsamplers|downsamplers|middle_block)$|_blocks$/i;

// Multi-word module names in kohya's flattened targets; the longest match wins.
const COMPOUNDS = new Set(
  (
    'single_transformer_blocks time_emb_proj add_q_proj add_k_proj add_v_proj to_add_out ' +
    'final_layer_norm time_text_embed dense_h_to_4h dense_4h_to_h gate_up_proj ' +
    'down_blocks up_blocks mid_block input_blocks output_blocks middle_block transformer_blocks ' +
    'double_blocks single_blocks to_q to_k to_v to_out proj_in proj_out conv_shortcut conv_in ' +
    'conv_out time_embedding time_embed linear_1 linear_2 emb_layers in_layers out_layers ' +
    'skip_connection text_model self_attn q_proj k_proj v_proj out_proj o_proj qkv_proj gate_proj ' +
    'up_proj down_proj layer_norm1 layer_norm2 img_attn txt_attn img_mlp txt_mlp img_mod txt_mod ' +
    'ff_context norm_out norm1_context timestep_embedder guidance_embedder text_embedder ' +
    'context_embedder x_embedder label_emb add_embedding proj_mlp lm_head embed_tokens ' +
    'block_sparse_moe shared_expert query_key_value c_attn c_proj c_fc final_layer cross_attn ' +
    'output_proj adaln_modulation'
  ).split(' '),
);

/** `down_blocks_0_attentions_0_proj_in` → `down_blocks.0.attentions.0.proj_in`. */
export function redotKohya(flat: string): string {
  const tokens = flat.split('_');
  const out: string[] = [];
  for (let i = 0; i < tokens.length;) {
    let taken = 1;
    for (const n of [4, 3, 2]) {
      if (i + n <= tokens.length && COMPOUNDS.has(tokens.slice(i, i + n).join('_'))) {
        taken = n;
        break;
      }
    }
    out.push(tokens.slice(i, i + taken).join('_'));
    i += taken;
  }
  return out.join('.');
}

/** The dotted module path of a target, without the group prefix of flattened kohya names. */
function dottedPath(m: LoraModule): string {
  const t = m.target;
  if (m.group !== undefined && !t.includes('.') && t.startsWith(`${m.group}_`))
    return redotKohya(t.slice(m.group.length + 1));
  return t;
}

/** Splits a dotted path into its row path (null outside any stack) and the rest (never empty). */
export function splitRow(path: string): { row: string | null; rest: string[] } {
  const segs = path.split('.');
  let end = -1;
  for (let i = 1; i < segs.length - 1; i++) {
    const word = segs[i - 1] ?? '';
    if (!NUMERIC.test(segs[i] ?? '') || !STACK.test(word)) continue;
    // T5: block.N.layer.M is a sub-layer of block N.
    if (word.toLowerCase() === 'layer' && end >= 0 && segs[end - 1]?.toLowerCase() === 'block')
      continue;
    end = i;
  }
  if (end < 0) return { row: null, rest: segs };
  while (end + 2 < segs.length && NUMERIC.test(segs[end + 1] ?? '')) end++;
  return { row: segs.slice(0, end + 1).join('.'), rest: segs.slice(end + 1) };
}

const DROP = new Set([
  'self_attn',
  'self_attention',
  'selfattention',
  'attention',
  'attn',
  'self',
  'mlp',
  'feed_forward',
  'densereludense',
  'block_sparse_moe',
  'ff',
  'net',
]);

const TYPES: readonly (readonly [RegExp, string])[] = [
  [/^(q_proj|to_q|q|query|wq|attn_q|q_lin)$/, 'q'],
  [/^(k_proj|to_k|k|key|wk|attn_k|k_lin)$/, 'k'],
  [/^(v_proj|to_v|v|value|wv|attn_v|v_lin)$/, 'v'],
  [/^(o_proj|to_out|to_out\.0|out_proj|o|attn_output|out_lin)$/, 'o'],
  [/^(qkv_proj|c_attn|query_key_value|qkv|wqkv|attn_qkv|to_qkv)$/, 'qkv'],
  [/^(gate_proj|w1|ffn_gate|wi_0)$/, 'gate'],
  [
    /^(up_proj|w3|c_fc|fc1|dense_h_to_4h|ffn_up|wi|wi_1|intermediate\.dense|net\.0\.proj|net\.0|0)$/,
    'up',
  ],
  [/^(down_proj|w2|fc2|dense_4h_to_h|ffn_down|net\.2|2)$/, 'down'],
  [/^gate_up_proj$/, 'gate_up'],
];
// Named by their context: the attention's output, or the MLP's down projection.
const CONTEXTUAL = /^(c_proj|wo|dense|proj|output\.dense)$/;
// Bare Sequential indices (img_mlp.0) and `net.*` only mean up / down inside an MLP.
const MLP_ONLY = /^(0|2|net\.0|net\.2|net\.0\.proj)$/;

/** The column of a row's rest: `[qualifier…, type]` joined by dots. */
export function columnOf(rest: readonly string[], fullPath: string): string {
  const lower = rest.map((s) => s.toLowerCase());
  const part = partOfName(fullPath);
  // Longest leaf first: ff.net.0.proj, to_out.0, output.dense, then one segment.
  for (const n of [3, 2, 1]) {
    if (lower.length < n) continue;
    const leaf = lower.slice(-n).join('.');
    let type: string | undefined;
    if (CONTEXTUAL.test(leaf))
      type = part === 'attention' ? 'o' : part === 'mlp' ? 'down' : undefined;
    else if (!MLP_ONLY.test(leaf) || part === 'mlp')
      type = TYPES.find(([re]) => re.test(leaf))?.[1];
    if (type) return [...qualifier(rest.slice(0, -n)), type].join('.');
  }
  return [...qualifier(rest.slice(0, -1)), rest[rest.length - 1] ?? ''].join('.');
}

function qualifier(segs: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] ?? '';
    // T5's `layer.M` sub-layer index says nothing the type does not.
    if (s.toLowerCase() === 'layer' && NUMERIC.test(segs[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (!DROP.has(s.toLowerCase())) out.push(s);
  }
  return out;
}

function columnRank(column: string): [string, number, string] {
  const dot = column.lastIndexOf('.');
  const type = column.slice(dot + 1);
  const q = dot < 0 ? '' : column.slice(0, dot);
  const i = CANONICAL_TYPES.indexOf(type);
  return i >= 0 ? [q, i, ''] : [q, CANONICAL_TYPES.length, type];
}

/** Qualifier (none first), then q, k, v, o, qkv, gate, up, down, gate_up, then the rest alphabetically. */
export function compareColumns(a: string, b: string): number {
  const [qa, ia, ta] = columnRank(a);
  const [qb, ib, tb] = columnRank(b);
  return naturalCompare(qa, qb) || ia - ib || naturalCompare(ta, tb);
}

interface MutableRow {
  readonly key: string;
  readonly group?: string;
  readonly path: string | null;
  readonly layer: number | null;
  readonly cells: Record<string, CoverageCell>;
}

export function adapterCoverage(
  analysis: LoraAnalysis,
  options: CoverageOptions = {},
): AdapterCoverage {
  const norms = new Map((options.stats ?? []).map((s) => [s.module, s.norm]));
  const rows = new Map<string, MutableRow>();
  const columns = new Set<string>();
  let counted = 0;
  let exact = options.shapeOf !== undefined;
  let alphas = 0;
  for (const m of analysis.modules) {
    const path = dottedPath(m);
    const { row, rest } = splitRow(path);
    const key = JSON.stringify([m.group ?? null, row]);
    let r = rows.get(key);
    if (!r) {
      r = {
        key,
        ...(m.group !== undefined ? { group: m.group } : {}),
        path: row,
        layer: row === null ? null : (m.layer?.index ?? null),
        cells: {},
      };
      rows.set(key, r);
    }
    let column = columnOf(rest, path);
    // Two modules on one cell (odd layouts, several PEFT adapters): fall back to the raw path.
    if (r.cells[column]) column = rest.join('.');
    if (r.cells[column]) column = m.name;
    const parameters = moduleParameters(m, options.shapeOf);
    if (parameters === null) exact = false;
    counted += parameters ?? 0;
    if (m.parts.alpha !== undefined) alphas++;
    r.cells[column] = {
      module: m.name,
      target: m.target,
      rank: m.rank,
      norm: norms.get(m.name) ?? null,
      parameters,
    };
    columns.add(column);
  }
  const trainable = exact ? counted : analysis.summary.parameters - alphas;
  const base = options.baseParameters ?? null;
  return {
    columns: [...columns].sort(compareColumns),
    rows: [...rows.values()].sort(compareRows).map((r) => ({
      key: r.key,
      ...(r.group !== undefined ? { group: r.group } : {}),
      path: r.path,
      label: r.path ?? 'other',
      layer: r.layer,
      cells: r.cells,
    })),
    modules: analysis.modules.length,
    trainableParameters: trainable,
    trainableExact: exact,
    baseParameters: base,
    percentOfBase: base !== null && base > 0 ? (trainable / base) * 100 : null,
  };
}

function moduleParameters(m: LoraModule, shapeOf: CoverageOptions['shapeOf']): number | null {
  if (!shapeOf) return null;
  const alpha = m.parts.alpha;
  let n = 0;
  for (const t of m.tensors) {
    if (t === alpha) continue;
    const shape = shapeOf(t);
    if (!shape) return null;
    n += shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

function compareRows(a: MutableRow, b: MutableRow): number {
  return (
    naturalCompare(a.group ?? '', b.group ?? '') ||
    Number(a.path === null) - Number(b.path === null) ||
    naturalCompare(a.path ?? '', b.path ?? '')
  );
}
