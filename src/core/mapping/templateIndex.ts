/**
 * The fast path of the base index, for bases of a million parameters: names that no naming
 * converter touches are grouped by template (numeric segments abstracted: `layers.#.mlp.experts.#.
 * up_proj`), and each tensor keeps only its template and its numbers. Canonical names, BaseParams
 * and the number → member tables are made on demand, for the few keys an adapter asks about.
 * canonicalName does nothing with such a name's numbers but copy them through, so the template's
 * canonical name with the numbers put back is the name's canonical name (checked on each template's
 * first instance; a template that disagrees goes the slow way).
 */
import type { CanonicalName } from './normalize.js';
import { NumberTable } from './numberTable.js';
import { CONTAINER_ROLES, leafRole, USUAL_TARGET_LEAVES } from './synonyms.js';

/**
 * First segments (wrappers stripped) that a converter of canonicalName looks at: GGUF, OpenCLIP,
 * diffusers UNet, LDM samplers, MMDiT / Flux, AdaLayerNorm. A new converter must add its heads here.
 */
const CONVERTED_HEADS: ReadonlySet<string> = new Set([
  'blk',
  'resblocks',
  'down_blocks',
  'up_blocks',
  'mid_block',
  'input_blocks',
  'output_blocks',
  'time_embedding',
  'add_embedding',
  'conv_in',
  'conv_norm_out',
  'conv_out',
  'joint_blocks',
  'transformer_blocks',
  'double_blocks',
  'single_transformer_blocks',
  'single_blocks',
  'x_embedder',
  't_embedder',
  'y_embedder',
  'context_embedder',
  'time_text_embed',
  'norm_out',
  'proj_out',
]);

/** A number that round-trips through Number (no leading zero, exact). */
const CANONICAL_NUM = /^(0|[1-9]\d{0,14})$/;
const isNum = (s: string): boolean => /^\d+$/.test(s);
const NO_NOTES: readonly string[] = [];
const GPT2_CONV1D = new Set(['c_attn', 'c_proj', 'c_fc']);

export class Template {
  /** Tensor indices of the members, in checkpoint order. */
  readonly members: number[] = [];
  /** null where the segment is a number. */
  readonly mapped: readonly (string | null)[];
  readonly role: string | null;
  readonly tokens: readonly string[];
  /** The structural key with `#` for each number. */
  readonly keyId: string;
  readonly count: number;
  /** The name-only half of BaseParam.usual and storedTransposed. */
  readonly usualName: boolean;
  readonly conv1d: boolean;
  /** Numbers → member tensor index (an array only where two members share their numbers). */
  private table: NumberTable | null = null;

  constructor(segs: readonly string[]) {
    const last = segs.length - 1;
    const role = leafRole(segs, last);
    this.mapped = segs.map((s, i) =>
      isNum(s) ? null : i === last ? (role ?? s) : (CONTAINER_ROLES[s] ?? s),
    );
    const tokens: string[] = [];
    for (const m of this.mapped) {
      if (m === null) continue;
      if (m.startsWith('@')) tokens.push(m);
      else for (const t of m.split('_')) if (t && !isNum(t)) tokens.push(t);
    }
    this.tokens = tokens;
    const leaf = segs[last] ?? '';
    this.role = role;
    this.keyId = this.mapped.map((m) => m ?? '#').join('.');
    this.count = this.mapped.filter((m) => m === null).length;
    // Numbers are whole segments, so they never make or break these matches.
    this.usualName =
      this.role !== null ||
      USUAL_TARGET_LEAVES.has(leaf) ||
      /(^|\.)(ff\.net|img_mlp|txt_mlp)\./.test(segs.join('.') + '.');
    this.conv1d = GPT2_CONV1D.has(leaf);
  }

  /**
   * Members whose numbers are `nums`, in checkpoint order. The table is made on the first lookup,
   * from the members' names: most templates are never asked about.
   */
  lookup(nums: readonly number[], nameOf: (tensor: number) => string): readonly number[] {
    if (nums.length !== this.count) return [];
    this.table ??= new NumberTable(this.count, this.members, nameOf);
    return this.table.get(nums);
  }

  /** The canonical name of a member (its segments as templateSegments gave them), as canonicalName spells it. */
  canon(path: string, segs: string[]): CanonicalName {
    let key = '';
    const indices: number[] = [];
    segs.forEach((s, i) => {
      const m = this.mapped[i] ?? null;
      if (m === null) indices.push(Number(s));
      key += i === 0 ? (m ?? s) : `.${m ?? s}`;
    });
    return {
      path,
      segments: segs,
      key,
      wholeKey: key,
      indices,
      role: this.role,
      part: null,
      tokens: this.tokens,
      notes: NO_NOTES,
      component: null,
      diffusersAdaNorm: false,
    };
  }
}

/**
 * Segments of a wrapper-stripped module path if it can take the template path, else null: no
 * converter head, no `to_out`, no text-encoder slot, no empty segment, at least one number, every
 * number canonical.
 */
export function templateSegments(stripped: string): string[] | null {
  if (stripped.startsWith('conditioner.') || stripped.startsWith('text_encoder')) return null;
  const segs = stripped.split('.');
  const head = segs[0];
  if (segs.length < 2 || head === undefined || CONVERTED_HEADS.has(head)) return null;
  let numbers = 0;
  for (const s of segs) {
    if (s.length === 0 || s === 'to_out' || s.includes('#')) return null;
    if (isNum(s)) {
      if (!CANONICAL_NUM.test(s)) return null;
      numbers++;
    }
  }
  return numbers > 0 ? segs : null;
}

/** Canonical numbers as whole segments: the numbers of a template id. */
const NUM_SEGMENT = /(?<=^|\.)(?:0|[1-9]\d{0,14})(?=\.|$)/g;

/** The template id of a path: its canonical numeric segments as `#` (one regexp, no split). */
export function templateId(path: string): string {
  return path.replace(NUM_SEGMENT, '#');
}

/** A layer-index signature (`3,17`) as numbers; null if a template cannot hold it. */
export function parseIndices(sig: string): number[] | null {
  if (sig === '') return null;
  const nums: number[] = [];
  for (const s of sig.split(',')) {
    if (!CANONICAL_NUM.test(s)) return null;
    nums.push(Number(s));
  }
  return nums;
}

/** A structural key as the fast path files it: `#` for numbers, and the numbers; null if it cannot be one. */
export function parseKey(key: string): { keyId: string; nums: number[] } | null {
  const nums: number[] = [];
  const ids: string[] = [];
  for (const s of key.split('.')) {
    if (s.includes('#')) return null;
    if (isNum(s)) {
      if (!CANONICAL_NUM.test(s)) return null;
      nums.push(Number(s));
      ids.push('#');
    } else ids.push(s);
  }
  return nums.length > 0 ? { keyId: ids.join('.'), nums } : null;
}
