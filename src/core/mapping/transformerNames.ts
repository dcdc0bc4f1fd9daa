/**
 * Name conventions of diffusion transformers and text encoders, rewritten to one canonical spelling:
 * diffusers / XLabs Flux and SAI SD3 MMDiT → BFL Flux names (with the part of a fused module),
 * OpenCLIP text towers → transformers CLIP names, and SGM / diffusers text-encoder slots.
 */

const isNum = (s: string | undefined): boolean => s !== undefined && /^\d+$/.test(s);

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
  // SD3.5 MMDiT-X: a second, image-only attention (SAI x_block.attn2)
  'attn2.to_q': { path: 'img_attn2.qkv', part: 'q' },
  'attn2.to_k': { path: 'img_attn2.qkv', part: 'k' },
  'attn2.to_v': { path: 'img_attn2.qkv', part: 'v' },
  'attn2.to_out.0': { path: 'img_attn2.proj' },
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

/** SAI MMDiT (SD3 / SD3.5) DismantledBlock members → the BFL spelling of the same stream's module. */
const SD3_BLOCK: Readonly<Record<string, string>> = {
  'attn.qkv': 'attn.qkv',
  'attn.proj': 'attn.proj',
  'attn2.qkv': 'attn2.qkv',
  'attn2.proj': 'attn2.proj',
  'mlp.fc1': 'mlp.0',
  'mlp.fc2': 'mlp.2',
  'adaLN_modulation.1': 'mod.lin',
};
/** SAI MMDiT embedders → what diffusers' names become (convert_sd3_to_diffusers.py). */
const SD3_TOP: Readonly<Record<string, string>> = {
  'x_embedder.proj': 'pos_embed.proj',
  't_embedder.mlp.0': 'time_in.in_layer',
  't_embedder.mlp.2': 'time_in.out_layer',
  'y_embedder.mlp.0': 'vector_in.in_layer',
  'y_embedder.mlp.2': 'vector_in.out_layer',
};

export interface TransformerRewrite {
  readonly segments: string[];
  readonly part: string | null;
  readonly note: string;
}

/** diffusers / XLabs Flux, diffusers SD3 and SAI SD3 names → BFL Flux names, with the fused part. */
export function mmditToBfl(s: readonly string[]): TransformerRewrite | null {
  const [a, b, c] = s;
  if (a === 'joint_blocks' && isNum(b) && (c === 'x_block' || c === 'context_block')) {
    const member = SD3_BLOCK[s.slice(3).join('.')];
    if (!member) return null;
    const side = c === 'x_block' ? 'img' : 'txt';
    return {
      segments: ['double_blocks', b ?? '', ...`${side}_${member}`.split('.')],
      part: null,
      note: 'SAI MMDiT → BFL names',
    };
  }
  const sd3 = SD3_TOP[s.join('.')];
  if (sd3) return { segments: sd3.split('.'), part: null, note: 'SAI MMDiT → BFL names' };
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
    return {
      segments: [block.stack, b ?? '', ...r.path.split('.')],
      part: r.part ?? null,
      note: 'diffusers Flux/MMDiT → BFL names',
    };
  }
  const top = FLUX_TOP[s.join('.')];
  return top
    ? { segments: top.split('.'), part: null, note: 'diffusers Flux/MMDiT → BFL names' }
    : null;
}

/**
 * diffusers spellings of AdaLayerNormContinuous linears, which hold (scale, shift) where BFL / SAI
 * hold (shift, scale): the same rows in swapped halves (swap_scale_shift in diffusers' converters).
 */
export function isDiffusersAdaNorm(s: readonly string[]): boolean {
  const j = s.join('.');
  return j === 'norm_out.linear' || /^transformer_blocks\.\d+\.norm1_context\.linear$/.test(j);
}

const OPENCLIP_BLOCK: Readonly<Record<string, string>> = {
  'attn.in_proj': 'self_attn.qkv_proj',
  'attn.out_proj': 'self_attn.out_proj',
  'mlp.c_fc': 'mlp.fc1',
  'mlp.c_proj': 'mlp.fc2',
  ln_1: 'layer_norm1',
  ln_2: 'layer_norm2',
};
const OPENCLIP_TOP: Readonly<Record<string, string>> = {
  token_embedding: 'embeddings.token_embedding',
  ln_final: 'final_layer_norm',
};

/**
 * OpenCLIP / OpenAI CLIP text tower (`resblocks.N.attn.in_proj`, `mlp.c_fc`) → transformers CLIP
 * names (`encoder.layers.N.self_attn.*`, `mlp.fc1`); in_proj is the fused q/k/v.
 */
export function openClipToHf(s: readonly string[]): string[] | null {
  const [a, b] = s;
  if (a === 'resblocks' && isNum(b)) {
    const member = OPENCLIP_BLOCK[s.slice(2).join('.')];
    return member ? ['encoder', 'layers', b ?? '', ...member.split('.')] : null;
  }
  const top = s.length === 1 && a !== undefined ? OPENCLIP_TOP[a] : undefined;
  return top ? top.split('.') : null;
}

/**
 * Which text encoder of a multi-encoder model a path is in: SGM `conditioner.embedders.N.`, diffusers
 * `text_encoder.` / `text_encoder_2.` (kohya `lora_te1_` / `lora_te2_` are read as the latter).
 */
export function textEncoderSlot(path: string): { component: string; rest: string } | null {
  const sgm = /^conditioner\.embedders\.(\d+)\./.exec(path);
  if (sgm) return { component: `te${Number(sgm[1]) + 1}`, rest: path.slice(sgm[0].length) };
  const diffusers = /^text_encoder(?:_(\d+))?\./.exec(path);
  if (diffusers)
    return { component: `te${diffusers[1] ?? '1'}`, rest: path.slice(diffusers[0].length) };
  return null;
}
