import type { TensorInfo } from '../formats/checkpoint.js';

/** A tree row as the editor draws it, and the small pieces of text that go on rows. */

export interface Totals {
  readonly tensors: number;
  readonly params: number;
  readonly bytes: number;
}

export interface TreeRow {
  /** Node id (tree) or tensor index (flat); stable while the checkpoint is open. */
  readonly id: number;
  readonly kind: 'group' | 'tensor';
  readonly depth: number;
  readonly label: string;
  /** Full dotted path of the node, or the tensor name. */
  readonly path: string;
  readonly expanded?: boolean;
  readonly totals: Totals;
  readonly dtype?: string;
  readonly shape?: readonly number[];
  /** Character ranges of `label` that the filter matched, as [start, end) pairs. */
  readonly match?: readonly number[];
  /** Not a model weight (optimizer state, buffers). */
  readonly role?: string;
  /** The file holding the data, when it is not the opened one. */
  readonly file?: string;
  /** ONNX: the first node that reads this initializer, e.g. "MatMul /model/layers.0/self_attn/q_proj/MatMul". */
  readonly usedBy?: string;
  /** Group rows: what the group is, e.g. "linear · r 8 · α 16 · scale 2". */
  readonly note?: string;
  readonly mark?: 'mapped' | 'unused';
  /** A quantized weight: how many stored parts are folded under it. */
  readonly parts?: number;
}

export function tensorExtras(t: TensorInfo): { role?: string; file?: string; usedBy?: string } {
  const c = t.consumers ?? [];
  return {
    ...(t.role && t.role !== 'weight' ? { role: t.role } : {}),
    ...(t.file !== undefined ? { file: t.file } : {}),
    ...(c.length
      ? { usedBy: `${c[0]?.op} ${c[0]?.node}${c.length > 1 ? ` (+${c.length - 1} more)` : ''}` }
      : {}),
  };
}

/** One line on a quantized weight's row: its scheme and what it costs per weight. */
export function quantNote(t: TensorInfo): string | undefined {
  const q = t.quant;
  if (!q) return undefined;
  return `${q.label} · ${q.bitsPerWeight.toFixed(2).replace(/\.?0+$/, '')} bits/weight`;
}

/** [start, end) ranges where any term occurs in `label`, merged and sorted. */
export function termRanges(label: string, terms: readonly string[]): number[] {
  const lower = label.toLowerCase();
  const hits: [number, number][] = [];
  for (const term of terms) {
    for (let at = lower.indexOf(term); at !== -1; at = lower.indexOf(term, at + term.length)) {
      hits.push([at, at + term.length]);
    }
  }
  hits.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of hits) {
    const last = out.length - 1;
    if (last > 0 && s <= (out[last] as number)) out[last] = Math.max(out[last] as number, e);
    else out.push(s, e);
  }
  return out;
}
