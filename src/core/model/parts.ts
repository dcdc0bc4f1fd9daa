/**
 * Parameters by part of a model (embeddings, attention, MLP, norms, head, conv, other), from tensor
 * names and shapes alone. Linear in the total name length.
 *
 * How a tensor is placed: its name's segments are read from the innermost outwards and the first
 * segment that names a part decides, so `attentions.0.transformer_blocks.0.ff.net.2` is MLP (ff) and
 * `h.0.attn.c_proj` is attention (attn) while `h.0.mlp.c_proj` is MLP. A tensor no segment places is
 * `conv` when its module has a weight of 3 or more dimensions, else `other`. Decisions:
 * - `norms` holds every norm (LayerNorm, RMSNorm, GroupNorm, q/k norms). `modulation` holds the AdaLN
 *   modulation linears (BFL `img_mod`/`modulation`, SAI `adaLN_modulation`, diffusers `norm1.linear`),
 *   billions of parameters in Flux, so BFL, SAI and diffusers layouts give the same split.
 * - `conv` holds diffusion ResNet blocks (their convs, shortcut, time-embedding projection; not their
 *   norms), down/upsamplers, conv_in/out and any unplaced ≥3-D weight. Attention-block `proj_in` /
 *   `proj_out` stay attention even where they are 1×1 convs (SD1.x).
 * - `embeddings` holds token/position embeddings and diffusion input embedders (time, text, patch).
 * - `head` holds lm_head / output / classifiers / poolers / projections and a diffusion model's final
 *   `proj_out` / `final_layer`. A tied head has no tensor of its own, so it counts nothing here.
 * - Flux single-stream blocks fuse attention and MLP in one matrix (`linear1`, `linear2`, diffusers
 *   `single_transformer_blocks.N.proj_out`): `other`, since names cannot split them.
 * - `mlp` includes MoE experts, shared experts and the router.
 */

export type ModelPart =
  'embeddings' | 'attention' | 'mlp' | 'norms' | 'modulation' | 'head' | 'conv' | 'other';

export const MODEL_PARTS: readonly ModelPart[] = [
  'embeddings',
  'attention',
  'mlp',
  'norms',
  'modulation',
  'head',
  'conv',
  'other',
];

export const PART_LABELS: Readonly<Record<ModelPart, string>> = {
  embeddings: 'Embeddings',
  attention: 'Attention',
  mlp: 'MLP (incl. experts and router)',
  norms: 'Norms',
  modulation: 'AdaLN modulation',
  head: 'Head (lm_head / classifier / output projection)',
  conv: 'Conv / ResNet blocks',
  other: 'Other',
};

export interface PartTotal {
  readonly part: ModelPart;
  readonly label: string;
  readonly parameters: number;
  readonly tensors: number;
}

export interface PartBreakdown {
  /** Every part in MODEL_PARTS order, zeros included. */
  readonly parts: readonly PartTotal[];
  /** Σ of the products of all shapes (a 0-d tensor counts 1). */
  readonly parameters: number;
  readonly tensors: number;
}

const NORM = /norm|^ln(_|\d|$)/;
const MODULATION = /^(img_mod|txt_mod|modulation|adaln_modulation|mod)$/;
// Diffusion input embedders: they hold small MLPs (`t_embedder.mlp.0`), so the outer name wins.
const EMBEDDER = new RegExp(
  '^(time_embed|time_embedding|time_text_embed|timestep_embedder|guidance_embedder|text_embedder|' +
    'add_embedding|label_emb|t_embedder|y_embedder|time_in|vector_in|guidance_in)$',
);
const ATTENTION = new RegExp(
  '^(self_?attn|self_?attention|selfattention|encdecattention|attn\\d*|attention|attentions|' +
    'cross_?attn|cross_?attention|encoder_attn|img_attn|txt_attn|c_attn|q_proj|k_proj|v_proj|o_proj|' +
    'qkv_proj|query_key_value|to_q|to_k|to_v|to_out|to_qkv|add_q_proj|add_k_proj|add_v_proj|' +
    'to_add_out|wqkv)$|^attn_',
);
const MLP = new RegExp(
  '(^|_)mlp(_|\\d|$)|^ffn|^(ff|ff_context|feed_forward|feedforward|densereludense|intermediate|' +
    'experts|shared_experts?|block_sparse_moe|moe|router|gate|gate_proj|up_proj|down_proj|' +
    'gate_up_proj|c_fc|fc1|fc2|dense_h_to_4h|dense_4h_to_h|proj_mlp)$',
);
const EMBEDDINGS = new RegExp(
  '^(embed_tokens|embed_in|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|' +
    'embed_positions|token_embd|embeddings|embedding|shared|tok_embeddings|token_embedding|' +
    'position_embedding|positional_embedding|time_embed|time_embedding|time_text_embed|timestep_embedder|text_embedder|' +
    'guidance_embedder|add_embedding|label_emb|x_embedder|context_embedder|pos_embed|patch_embed|' +
    'img_in|txt_in|time_in|vector_in|guidance_in|t_embedder|y_embedder)$',
);
const HEAD = new RegExp(
  '^(lm_head|embed_out|classifier|score|cls|qa_outputs|pooler|text_projection|visual_projection|' +
    'final_layer)$',
);
const CONV = new RegExp(
  '^conv|^(resnets|downsamplers|upsamplers|in_layers|out_layers|emb_layers|skip_connection|op|' +
    'nin_shortcut|quant_conv|post_quant_conv)$',
);
const OTHER = /^(rotary_emb|rope_freqs|inv_freq|linear1|linear2)$/;
const NUMERIC = /^\d+$/;
/** The parameter's own name, not a module: skipped by the scan. */
const LEAF =
  /^(weight|bias|scale|scales|g|b|gamma|beta|running_mean|running_var|num_batches_tracked)$/;

/** The part a tensor name places it in, or null when no segment names one (see the file comment). */
export function partOfName(name: string): ModelPart | null {
  const segs = name.toLowerCase().split('.');
  if (segs.some((s) => EMBEDDER.test(s))) return 'embeddings';
  for (let i = segs.length - 1; i >= 0; i--) {
    const s = segs[i] ?? '';
    if (i === segs.length - 1 && LEAF.test(s) && segs.length > 1) continue;
    const prev = segs[i - 1] ?? '';
    const numbered = NUMERIC.test(prev);
    // LDM ResBlock / final GroupNorms: in_layers.0, out_layers.0, top-level out.0.
    if (s === '0' && (prev === 'in_layers' || prev === 'out_layers')) return 'norms';
    if (NORM.test(s)) {
      // diffusers AdaLayerNorm(Zero)'s `norm1.linear` is the modulation, as BFL's `img_mod.lin`.
      return segs[i + 1] === 'linear' ? 'modulation' : 'norms';
    }
    if (MODULATION.test(s)) return 'modulation';
    if (OTHER.test(s)) return 'other';
    if (s === 'proj_out' || s === 'proj_in') {
      if (segs.includes('single_transformer_blocks') && s === 'proj_out') return 'other';
      if (numbered || ATTENTION.test(prev)) return 'attention';
      return s === 'proj_out' ? 'head' : 'embeddings';
    }
    // BERT `layer.N.output.dense` is the MLP's down projection; a top-level `output` is the LM head.
    if (s === 'output') {
      if (numbered) return 'mlp';
      if (i === 0) return 'head';
      continue;
    }
    if (HEAD.test(s)) return 'head';
    if (EMBEDDINGS.test(s)) return 'embeddings';
    if (ATTENTION.test(s)) return 'attention';
    if (MLP.test(s)) return 'mlp';
    if (CONV.test(s)) return 'conv';
  }
  return null;
}

/** Top-level LDM `out.0` (GroupNorm before conv_out) has no telling name. */
const LDM_OUT_NORM = /(^|\.)out\.0\.(weight|bias)$/;

function moduleOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(0, dot);
}

/**
 * The name with every all-digit segment but "0" written "1": partOfName only asks whether a segment
 * is a number and whether it is "0", so both names place alike, and a model's thousands of layers
 * share a handful of keys.
 */
function placementKey(name: string): string {
  let out = '';
  let copied = 0;
  let start = 0;
  let digits = true;
  for (let i = 0; i <= name.length; i++) {
    const c = i < name.length ? name.charCodeAt(i) : 0x2e;
    if (c !== 0x2e) {
      if (c < 0x30 || c > 0x39) digits = false;
      continue;
    }
    const len = i - start;
    // "0" and "1" stay as they are; any other all-digit segment becomes "1".
    if (digits && len > 0 && !(len === 1 && name.charCodeAt(start) <= 0x31)) {
      out += `${name.slice(copied, start)}1`;
      copied = i;
    }
    start = i + 1;
    digits = true;
  }
  return copied === 0 ? name : out + name.slice(copied);
}

/** Parameters and tensor counts by part. Every tensor lands in exactly one part. */
export function parametersByPart(
  tensors: readonly { readonly name: string; readonly shape: readonly number[] }[],
): PartBreakdown {
  // Modules with a ≥3-D weight: their unplaced tensors (bias included) are conv.
  const convModules = new Set<string>();
  for (const t of tensors) if (t.shape.length >= 3) convModules.add(moduleOf(t.name));

  // Totals by index into MODEL_PARTS; the cache holds that index (or -1: no segment places it).
  const params = MODEL_PARTS.map(() => 0);
  const counts = MODEL_PARTS.map(() => 0);
  const conv = MODEL_PARTS.indexOf('conv');
  const norms = MODEL_PARTS.indexOf('norms');
  const other = MODEL_PARTS.indexOf('other');
  let total = 0;
  const cache = new Map<string, number>();
  for (const t of tensors) {
    let n = 1;
    for (const d of t.shape) n *= d;
    const name = t.name;
    const key = placementKey(name);
    let placed = cache.get(key);
    if (placed === undefined) {
      const p = partOfName(name);
      placed = p === null ? -1 : MODEL_PARTS.indexOf(p);
      if (cache.size < 65_536) cache.set(key, placed);
    }
    const part =
      placed >= 0
        ? placed
        : LDM_OUT_NORM.test(name) && t.shape.length === 1
          ? norms
          : convModules.has(moduleOf(name))
            ? conv
            : other;
    params[part] = (params[part] ?? 0) + n;
    counts[part] = (counts[part] ?? 0) + 1;
    total += n;
  }
  return {
    parts: MODEL_PARTS.map((part, i) => ({
      part,
      label: PART_LABELS[part],
      parameters: params[i] ?? 0,
      tensors: counts[i] ?? 0,
    })),
    parameters: total,
    tensors: tensors.length,
  };
}
