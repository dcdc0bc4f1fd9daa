/**
 * Canonical module paths. Both sides (adapter modules and base parameters) go through the same
 * rewrites, so that two names that mean the same module end up with the same structural key:
 * wrappers stripped, GGUF → transformers names, diffusers → LDM UNet numbering, diffusers Flux → BFL
 * Flux (fused qkv / linear1 parts), XLabs processor names, then role synonyms.
 */
import { CONTAINER_ROLES, GGUF_BLOCK, GGUF_TOP, LEAF_ROLES, WRAPPER_PREFIXES } from './synonyms.js';

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
  return param.replace(/\.(weight|bias)$/, '');
}

const RESNET: Readonly<Record<string, readonly string[]>> = {
  conv1: ['in_layers', '2'],
  norm1: ['in_layers', '0'],
  conv2: ['out_layers', '3'],
  norm2: ['out_layers', '0'],
  time_emb_proj: ['emb_layers', '1'],
  conv_shortcut: ['skip_connection'],
};
const resnet = (rest: readonly string[]): string[] => {
  const head = rest[0] !== undefined ? RESNET[rest[0]] : undefined;
  return head ? [...head, ...rest.slice(1)] : [...rest];
};
const UNET_TOP: Readonly<Record<string, readonly string[]>> = {
  'time_embedding.linear_1': ['time_embed', '0'],
  'time_embedding.linear_2': ['time_embed', '2'],
  'add_embedding.linear_1': ['label_emb', '0', '0'],
  'add_embedding.linear_2': ['label_emb', '0', '2'],
  conv_in: ['input_blocks', '0', '0'],
  conv_norm_out: ['out', '0'],
  conv_out: ['out', '2'],
};

/**
 * diffusers UNet2DConditionModel → LDM/SGM numbering (layers_per_block = 2: SD1.x, SD2.x, SDXL).
 * Down/upsamplers become `@downsample`/`@upsample` because LDM puts the upsampler at `.1` or `.2`
 * depending on whether the block has attention.
 */
function diffusersUnetToLdm(s: readonly string[]): string[] | null {
  const [a, b = '', c = '', d = ''] = s;
  const rest = s.slice(4);
  if ((a === 'down_blocks' || a === 'up_blocks') && isNum(b)) {
    const i = Number(b);
    const down = a === 'down_blocks';
    const stack = down ? 'input_blocks' : 'output_blocks';
    const base = down ? 3 * i + 1 : 3 * i;
    if (c === 'resnets' && isNum(d)) return [stack, String(base + Number(d)), '0', ...resnet(rest)];
    if (c === 'attentions' && isNum(d)) return [stack, String(base + Number(d)), '1', ...rest];
    if (c === 'downsamplers') return ['input_blocks', String(3 * i + 3), '@downsample'];
    if (c === 'upsamplers') return ['output_blocks', String(3 * i + 2), '@upsample'];
    return null;
  }
  if (a === 'mid_block' && isNum(c)) {
    const tail = s.slice(3);
    if (b === 'resnets') return ['middle_block', String(2 * Number(c)), ...resnet(tail)];
    if (b === 'attentions') return ['middle_block', '1', ...tail];
    return null;
  }
  const two = UNET_TOP[s.slice(0, 2).join('.')];
  if (two) return [...two, ...s.slice(2)];
  const one = a !== undefined ? UNET_TOP[a] : undefined;
  if (one && s.length === 1) return [...one];
  // LDM side: samplers have no attention-independent index.
  if (a === 'input_blocks' && isNum(b) && c === '0' && d === 'op' && s.length === 4)
    return ['input_blocks', b, '@downsample'];
  if (a === 'output_blocks' && isNum(b) && isNum(c) && d === 'conv' && s.length === 4)
    return ['output_blocks', b, '@upsample'];
  return null;
}

interface Rewrite {
  readonly path: string;
  readonly part?: string;
}
const FLUX_DOUBLE: Readonly<Record<string, Rewrite>> = {
  'attn.to_q': { path: 'img_attn.qkv', part: 'q' },
  'attn.to_k': { path: 'img_attn.qkv', part: 'k' },
  'attn.to_v': { path: 'img_attn.qkv', part: 'v' },
  'attn.add_q_proj': { path: 'txt_attn.qkv', part: 'q' },
  'attn.add_k_proj': { path: 'txt_attn.qkv', part: 'k' },
  'attn.add_v_proj': { path: 'txt_attn.qkv', part: 'v' },
  'attn.to_out.0': { path: 'img_attn.proj' },
  'attn.to_add_out': { path: 'txt_attn.proj' },
  'ff.net.0.proj': { path: 'img_mlp.0' },
  'ff.net.2': { path: 'img_mlp.2' },
  'ff_context.net.0.proj': { path: 'txt_mlp.0' },
  'ff_context.net.2': { path: 'txt_mlp.2' },
  'norm1.linear': { path: 'img_mod.lin' },
  'norm1_context.linear': { path: 'txt_mod.lin' },
  // XLabs processor names
  'processor.qkv_lora1': { path: 'img_attn.qkv' },
  'processor.qkv_lora2': { path: 'txt_attn.qkv' },
  'processor.proj_lora1': { path: 'img_attn.proj' },
  'processor.proj_lora2': { path: 'txt_attn.proj' },
};
const FLUX_SINGLE: Readonly<Record<string, Rewrite>> = {
  'attn.to_q': { path: 'linear1', part: 'q' },
  'attn.to_k': { path: 'linear1', part: 'k' },
  'attn.to_v': { path: 'linear1', part: 'v' },
  proj_mlp: { path: 'linear1', part: 'mlp' },
  proj_out: { path: 'linear2' },
  'norm.linear': { path: 'modulation.lin' },
  'processor.qkv_lora': { path: 'linear1', part: 'qkv' },
  'processor.proj_lora': { path: 'linear2' },
};
const FLUX_TOP: Readonly<Record<string, string>> = {
  x_embedder: 'img_in',
  context_embedder: 'txt_in',
  'time_text_embed.timestep_embedder.linear_1': 'time_in.in_layer',
  'time_text_embed.timestep_embedder.linear_2': 'time_in.out_layer',
  'time_text_embed.text_embedder.linear_1': 'vector_in.in_layer',
  'time_text_embed.text_embedder.linear_2': 'vector_in.out_layer',
  'time_text_embed.guidance_embedder.linear_1': 'guidance_in.in_layer',
  'time_text_embed.guidance_embedder.linear_2': 'guidance_in.out_layer',
  'norm_out.linear': 'final_layer.adaLN_modulation.1',
  proj_out: 'final_layer.linear',
};

/** diffusers / XLabs Flux → BFL Flux names, with the part of a fused module. */
function fluxToBfl(s: readonly string[]): { segments: string[]; part: string | null } | null {
  const [a, b] = s;
  const tail = s.slice(2).join('.');
  const block =
    (a === 'transformer_blocks' || a === 'double_blocks') && isNum(b)
      ? { stack: 'double_blocks', table: FLUX_DOUBLE }
      : (a === 'single_transformer_blocks' || a === 'single_blocks') && isNum(b)
        ? { stack: 'single_blocks', table: FLUX_SINGLE }
        : null;
  if (block) {
    const r = block.table[tail];
    if (!r) return null;
    return { segments: [block.stack, b ?? '', ...r.path.split('.')], part: r.part ?? null };
  }
  const top = FLUX_TOP[s.join('.')];
  return top ? { segments: top.split('.'), part: null } : null;
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

/** Canonical name of a module path (no `.weight`). */
export function canonicalName(modulePath: string): CanonicalName {
  const notes: string[] = [];
  const stripped = stripWrappers(modulePath);
  let segs = stripped.split('.').filter((x) => x.length > 0);
  let part: string | null = null;

  const gguf = ggufToHf(segs);
  if (gguf) {
    segs = gguf;
    notes.push('llama.cpp tensor name');
  }
  const ldm = diffusersUnetToLdm(segs);
  if (ldm) {
    if (segs[0] === 'down_blocks' || segs[0] === 'up_blocks' || segs[0] === 'mid_block')
      notes.push('diffusers → LDM block numbering');
    segs = ldm;
  }
  const flux = fluxToBfl(segs);
  if (flux) {
    if (flux.segments.join('.') !== segs.join('.')) notes.push('diffusers Flux → BFL names');
    segs = flux.segments;
    part = flux.part;
  }
  // diffusers `to_out.0` is the output projection itself (index 0 of a ModuleList with dropout).
  if (segs.length >= 2 && segs[segs.length - 2] === 'to_out' && segs[segs.length - 1] === '0')
    segs = segs.slice(0, -1);

  const mapped = segs.map((s, i) =>
    i === segs.length - 1 ? (LEAF_ROLES[s] ?? s) : (CONTAINER_ROLES[s] ?? s),
  );
  const last = segs[segs.length - 1];
  const role = last !== undefined ? (LEAF_ROLES[last] ?? null) : null;
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
