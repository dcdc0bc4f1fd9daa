/**
 * Canonical module paths. Both sides (adapter modules and base parameters) go through the same
 * rewrites, so that two names that mean the same module end up with the same structural key:
 * wrappers stripped, text-encoder slot noted, GGUF → transformers names, OpenCLIP → transformers CLIP,
 * diffusers → LDM UNet numbering (by the base's layout), diffusers Flux / SAI SD3 → BFL Flux (fused
 * qkv / linear1 parts), XLabs processor names, then role synonyms.
 */
import { CONTAINER_ROLES, GGUF_BLOCK, GGUF_TOP, leafRole, WRAPPER_PREFIXES } from './synonyms.js';
import {
  isDiffusersAdaNorm,
  mmditToBfl,
  openClipToHf,
  textEncoderSlot,
} from './transformerNames.js';
import { diffusersUnetToLdm, SD_UNET_LAYOUT, type UnetLayout } from './unetLayout.js';

export interface CanonicalName {
  /** Wrapper-stripped, convention-converted path (dots). */
  readonly path: string;
  readonly segments: readonly string[];
  /** Structural key: segments with role synonyms applied, plus `#part` for a part of a fused module. */
  readonly key: string;
  /** The key of the whole (fused) module when this is a part; else equal to key. */
  readonly wholeKey: string;
  /** Numeric segments in order: layer / block numbers that must agree. */
  readonly indices: readonly number[];
  /** Leaf role (`@q`, `@qkv`, …) or null. */
  readonly role: string | null;
  /** Part of a fused module this name stands for (`q`, `k`, `v`, `mlp`, `qkv`), or null. */
  readonly part: string | null;
  /** Tokens for similarity (roles, and the `_` words of other segments; no numbers). */
  readonly tokens: readonly string[];
  /** The conventions that were applied, in words (for the reason). */
  readonly notes: readonly string[];
  /** Text encoder of a multi-encoder checkpoint (`te1`, `te2`), when the name says; else null. */
  readonly component: string | null;
  /** A diffusers AdaLayerNormContinuous name: (scale, shift) where the originals hold (shift, scale). */
  readonly diffusersAdaNorm: boolean;
}

const isNum = (s: string | undefined): boolean => s !== undefined && /^\d+$/.test(s);

/** Removes wrapper prefixes, repeatedly (`base_model.model.model.layers` → `layers`). */
export function stripWrappers(path: string): string {
  let p = path;
  for (let changed = true; changed;) {
    changed = false;
    for (const w of WRAPPER_PREFIXES) {
      if (p.startsWith(w) && p.length > w.length) {
        p = p.slice(w.length);
        changed = true;
      }
    }
  }
  return p;
}

/** Removes a trailing parameter name: the matcher works on module paths. */
export function modulePathOf(param: string): string {
  // nn.MultiheadAttention keeps its fused q/k/v as `in_proj_weight` (OpenCLIP, OpenAI CLIP).
  return param.replace(/\.(weight|bias)$/, '').replace(/\.in_proj_(weight|bias)$/, '.in_proj');
}

function ggufToHf(s: readonly string[]): string[] | null {
  const [a, b = '', c] = s;
  if (a === 'blk' && isNum(b) && c !== undefined && s.length === 3) {
    const m = GGUF_BLOCK[c];
    return m ? ['layers', b, ...m.split('.')] : null;
  }
  if (s.length === 1 && a !== undefined && GGUF_TOP[a]) return [GGUF_TOP[a]];
  return null;
}

/**
 * Canonical name of a module path (no `.weight`). `unet` numbers diffusers UNet blocks the way the
 * base's LDM blocks are numbered (SD1.x/SDXL's when no base says).
 */
export function canonicalName(
  modulePath: string,
  unet: UnetLayout = SD_UNET_LAYOUT,
): CanonicalName {
  const notes: string[] = [];
  const slot = textEncoderSlot(modulePath);
  const stripped = stripWrappers(slot ? slot.rest : modulePath);
  let segs = stripped.split('.').filter((x) => x.length > 0);
  let part: string | null = null;
  const diffusersAdaNorm = isDiffusersAdaNorm(segs);

  const gguf = ggufToHf(segs);
  if (gguf) {
    segs = gguf;
    notes.push('llama.cpp tensor name');
  }
  const clip = openClipToHf(segs);
  if (clip) {
    segs = clip;
    notes.push('OpenCLIP → transformers CLIP names');
  }
  const ldm = diffusersUnetToLdm(segs, unet);
  if (ldm) {
    if (segs[0] === 'down_blocks' || segs[0] === 'up_blocks' || segs[0] === 'mid_block')
      notes.push(`diffusers → LDM block numbering (${unet.source})`);
    segs = ldm;
  }
  const mmdit = mmditToBfl(segs);
  if (mmdit) {
    if (mmdit.segments.join('.') !== segs.join('.')) notes.push(mmdit.note);
    segs = mmdit.segments;
    part = mmdit.part;
  }
  // diffusers `to_out.0` is the output projection itself (index 0 of a ModuleList with dropout).
  if (segs.length >= 2 && segs[segs.length - 2] === 'to_out' && segs[segs.length - 1] === '0')
    segs = segs.slice(0, -1);

  const role = leafRole(segs, segs.length - 1);
  const mapped = segs.map((s, i) =>
    i === segs.length - 1 ? (role ?? s) : (CONTAINER_ROLES[s] ?? s),
  );
  const wholeKey = mapped.join('.');
  const tokens: string[] = [];
  for (const m of mapped) {
    if (isNum(m)) continue;
    if (m.startsWith('@')) tokens.push(m);
    else for (const t of m.split('_')) if (t && !isNum(t)) tokens.push(t);
  }
  return {
    path: segs.join('.'),
    segments: segs,
    key: part ? `${wholeKey}#${part}` : wholeKey,
    wholeKey,
    indices: segs.filter(isNum).map(Number),
    role,
    part,
    tokens,
    notes,
    component: slot?.component ?? null,
    diffusersAdaNorm,
  };
}

/**
 * Un-flattens a kohya name (`down_blocks_0_attentions_0_proj_in`) with a vocabulary of segment names:
 * the split with the fewest segments where every segment is known or a number (dynamic programming;
 * unknown single words are allowed at a cost so that some split always exists).
 */
export function unflatten(flat: string, vocab: ReadonlySet<string>): string {
  const words = flat.split('_');
  const n = words.length;
  const cost = new Array<number>(n + 1).fill(Infinity);
  const from = new Array<number>(n + 1).fill(-1);
  cost[0] = 0;
  for (let i = 0; i < n; i++) {
    const ci = cost[i] ?? Infinity;
    if (ci === Infinity) continue;
    for (let j = i + 1; j <= Math.min(n, i + 6); j++) {
      const seg = words.slice(i, j).join('_');
      const c = vocab.has(seg) || (j === i + 1 && isNum(seg)) ? 1 : j === i + 1 ? 10 : Infinity;
      if (ci + c < (cost[j] ?? Infinity)) {
        cost[j] = ci + c;
        from[j] = i;
      }
    }
  }
  const segs: string[] = [];
  for (let j = n; j > 0;) {
    const i = from[j] ?? j - 1;
    segs.unshift(words.slice(i, j).join('_'));
    j = i;
  }
  return segs.join('.');
}

/** Module path of an ONNX node (`/model/layers.0/self_attn/q_proj/MatMul` → `model.layers.0.self_attn.q_proj`). */
export function onnxNodeModulePath(node: string): string | null {
  if (!node.startsWith('/')) return null;
  const parts = node.split('/').filter((p) => p.length > 0);
  if (parts.length < 2) return null;
  return parts.slice(0, -1).join('.');
}
