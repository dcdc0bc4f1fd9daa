/**
 * Name vocabularies of the conventions the matcher knows: module-role synonyms, container synonyms,
 * the llama.cpp tensor map, and wrapper prefixes. Roles are written `@q`, `@mlp`, … so that they can
 * never collide with a real segment name.
 */

/** Leaf module name → role. Two names with the same role do the same job in different codebases. */
export const LEAF_ROLES: Readonly<Record<string, string>> = {
  q_proj: '@q',
  to_q: '@q',
  query: '@q',
  attn_q: '@q',
  wq: '@q',
  q_lin: '@q',
  k_proj: '@k',
  to_k: '@k',
  key: '@k',
  attn_k: '@k',
  wk: '@k',
  k_lin: '@k',
  v_proj: '@v',
  to_v: '@v',
  value: '@v',
  attn_v: '@v',
  wv: '@v',
  v_lin: '@v',
  o_proj: '@o',
  out_proj: '@o',
  attn_output: '@o',
  attn_out: '@o',
  wo: '@o',
  out_lin: '@o',
  to_out: '@o', // diffusers `to_out.0`, rewritten before lookup
  qkv: '@qkv',
  qkv_proj: '@qkv',
  c_attn: '@qkv',
  query_key_value: '@qkv',
  wqkv: '@qkv',
  attn_qkv: '@qkv',
  gate_proj: '@gate',
  ffn_gate: '@gate',
  w1: '@gate',
  up_proj: '@up',
  ffn_up: '@up',
  w3: '@up',
  down_proj: '@down',
  ffn_down: '@down',
  w2: '@down',
  gate_up_proj: '@gate_up',
  dense_h_to_4h: '@up', // GPT-NeoX, Falcon, BLOOM
  dense_4h_to_h: '@down',
};

/**
 * The role of segment `i` as a leaf. `dense` is the output projection only inside an attention
 * container (GPT-NeoX `attention.dense`, Phi-2 `self_attn.dense`, Falcon `self_attention.dense`);
 * elsewhere (BERT `intermediate.dense`, `output.dense`) it has no role of its own.
 */
export function leafRole(segs: readonly string[], i: number): string | null {
  const s = segs[i];
  if (s === undefined) return null;
  const role = LEAF_ROLES[s];
  if (role !== undefined) return role;
  if (s === 'dense' && i > 0 && CONTAINER_ROLES[segs[i - 1] ?? ''] === '@attn') return '@o';
  return null;
}

/** Containers that hold the same thing under different names. */
export const CONTAINER_ROLES: Readonly<Record<string, string>> = {
  self_attn: '@attn',
  attn: '@attn',
  attention: '@attn',
  self_attention: '@attn',
  mlp: '@mlp',
  feed_forward: '@mlp',
  ffn: '@mlp',
  layers: '@layers',
  layer: '@layers',
  h: '@layers',
  blk: '@layers',
};

/** Roles that are parts of a fused parameter, and the fused role that holds them. */
export const FUSED_PARENT: Readonly<Record<string, string>> = {
  '@q': '@qkv',
  '@k': '@qkv',
  '@v': '@qkv',
  '@gate': '@gate_up',
  '@up': '@gate_up',
};

/** llama.cpp (gguf-py tensor_mapping, LLaMA architecture) → transformers module names. */
export const GGUF_BLOCK: Readonly<Record<string, string>> = {
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  attn_qkv: 'self_attn.qkv_proj',
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
export const GGUF_TOP: Readonly<Record<string, string>> = {
  token_embd: 'embed_tokens',
  output_norm: 'norm',
  output: 'lm_head',
};

/** Wrapper prefixes added by trainers and loaders; none of them names a module of the model itself. */
export const WRAPPER_PREFIXES: readonly string[] = [
  'base_model.model.',
  'model.diffusion_model.',
  'diffusion_model.',
  'cond_stage_model.transformer.',
  'cond_stage_model.', // SD2: cond_stage_model.model.transformer.resblocks (OpenCLIP)
  'transformer.',
  'unet.',
  'text_encoder.',
  'text_model.',
  'module.',
  '_orig_mod.',
  'gpt_neox.', // GPTNeoXForCausalLM: gpt_neox.layers.N.attention.query_key_value
  'model.',
];

/** Kohya group prefixes (the part before the flattened module path). */
export const KOHYA_PREFIX = /^(?:lora_(?:unet|te\d?|transformer|prior_unet)|lycoris)_/;
/** Wrappers as they look once flattened with `_`. */
export const FLAT_WRAPPERS: readonly string[] = [
  'base_model_model_',
  'diffusion_model_',
  'text_model_',
];

/**
 * Segment names with an underscore that kohya flattening makes ambiguous, beyond those the base model
 * itself provides (the base's own segments are always added).
 */
export const KNOWN_SEGMENTS: readonly string[] = [
  'down_blocks',
  'up_blocks',
  'mid_block',
  'transformer_blocks',
  'single_transformer_blocks',
  'input_blocks',
  'output_blocks',
  'middle_block',
  'double_blocks',
  'single_blocks',
  'proj_in',
  'proj_out',
  'proj_mlp',
  'to_q',
  'to_k',
  'to_v',
  'to_out',
  'to_add_out',
  'add_q_proj',
  'add_k_proj',
  'add_v_proj',
  'ff_context',
  'norm1_context',
  'conv_in',
  'conv_out',
  'conv_shortcut',
  'conv_norm_out',
  'time_emb_proj',
  'time_embedding',
  'time_embed',
  'add_embedding',
  'label_emb',
  'linear_1',
  'linear_2',
  'in_layers',
  'out_layers',
  'emb_layers',
  'skip_connection',
  'text_model',
  'self_attn',
  'img_attn',
  'txt_attn',
  'img_mlp',
  'txt_mlp',
  'img_mod',
  'txt_mod',
  'final_layer',
  'x_embedder',
  'context_embedder',
  'time_text_embed',
  'timestep_embedder',
  'text_embedder',
  'guidance_embedder',
  'norm_out',
  'qkv_proj',
  'gate_up_proj',
  // SAI MMDiT (SD3 / SD3.5), for names flattened against a diffusers-named base
  'joint_blocks',
  'x_block',
  'context_block',
  'adaLN_modulation',
  'x_embedder',
  't_embedder',
  'y_embedder',
  'pos_embed',
  'final_layer',
  ...Object.keys(LEAF_ROLES),
  ...Object.keys(CONTAINER_ROLES),
];

/** Base parameters that LoRA trainers usually target (for the unused-base report). */
export const USUAL_TARGET_LEAVES: ReadonlySet<string> = new Set([
  'fc1',
  'fc2',
  'c_fc',
  'c_proj',
  'dense',
  'proj_in',
  'proj_out',
  'proj',
  'proj_mlp',
  'linear1',
  'linear2',
  'to_add_out',
  'add_q_proj',
  'add_k_proj',
  'add_v_proj',
]);
