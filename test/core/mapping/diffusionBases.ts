/**
 * Base layouts for the diffusion mapping tests: the UNet block correspondence (diffusers ↔ LDM),
 * enumerated from a UNet config the way both codebases build their module lists, and SD3 / Qwen-Image
 * transformer key lists written from the public model code (diffusers SD3Transformer2DModel and its
 * convert_sd3_to_diffusers.py, SAI's MMDiT, diffusers QwenImageTransformer2DModel, ComfyUI qwen_image).
 */

/** The parts of an LDM UNet config that fix its block numbering. */
export interface UnetConfig {
  /** Number of resolution levels (len(channel_mult)). */
  readonly levels: number;
  /** Res blocks per down level (num_res_blocks); up levels have one more. */
  readonly resBlocks: number;
  /** Levels with spatial transformers (downsampling factor 2^level in attention_resolutions). */
  readonly attention: readonly boolean[];
}

/** A block of the diffusers UNet and the LDM block that holds the same modules. */
export interface BlockPair {
  readonly diffusers: string;
  readonly ldm: string;
  readonly kind: 'resnet' | 'attention' | 'sampler' | 'top';
}

/**
 * Block pairs, in the order LDM's UNetModel builds input_blocks / middle_block / output_blocks
 * (diffusers counts up levels from the bottom, LDM output_blocks from the bottom too).
 */
export function unetBlockPairs(c: UnetConfig): BlockPair[] {
  const pairs: BlockPair[] = [
    { diffusers: 'conv_in', ldm: 'input_blocks.0.0', kind: 'top' },
    { diffusers: 'time_embedding.linear_1', ldm: 'time_embed.0', kind: 'top' },
    { diffusers: 'time_embedding.linear_2', ldm: 'time_embed.2', kind: 'top' },
    { diffusers: 'add_embedding.linear_1', ldm: 'label_emb.0.0', kind: 'top' },
    { diffusers: 'add_embedding.linear_2', ldm: 'label_emb.0.2', kind: 'top' },
    { diffusers: 'conv_out', ldm: 'out.2', kind: 'top' },
  ];
  let k = 1;
  for (let level = 0; level < c.levels; level++) {
    for (let j = 0; j < c.resBlocks; j++, k++) {
      pairs.push({
        diffusers: `down_blocks.${level}.resnets.${j}`,
        ldm: `input_blocks.${k}.0`,
        kind: 'resnet',
      });
      if (c.attention[level])
        pairs.push({
          diffusers: `down_blocks.${level}.attentions.${j}`,
          ldm: `input_blocks.${k}.1`,
          kind: 'attention',
        });
    }
    if (level < c.levels - 1) {
      pairs.push({
        diffusers: `down_blocks.${level}.downsamplers.0.conv`,
        ldm: `input_blocks.${k}.0.op`,
        kind: 'sampler',
      });
      k++;
    }
  }
  pairs.push(
    { diffusers: 'mid_block.resnets.0', ldm: 'middle_block.0', kind: 'resnet' },
    { diffusers: 'mid_block.attentions.0', ldm: 'middle_block.1', kind: 'attention' },
    { diffusers: 'mid_block.resnets.1', ldm: 'middle_block.2', kind: 'resnet' },
  );
  k = 0;
  for (let up = 0; up < c.levels; up++) {
    const attn = c.attention[c.levels - 1 - up] ?? false;
    for (let j = 0; j <= c.resBlocks; j++, k++) {
      pairs.push({
        diffusers: `up_blocks.${up}.resnets.${j}`,
        ldm: `output_blocks.${k}.0`,
        kind: 'resnet',
      });
      if (attn)
        pairs.push({
          diffusers: `up_blocks.${up}.attentions.${j}`,
          ldm: `output_blocks.${k}.1`,
          kind: 'attention',
        });
      if (j === c.resBlocks && up < c.levels - 1)
        pairs.push({
          diffusers: `up_blocks.${up}.upsamplers.0.conv`,
          ldm: `output_blocks.${k}.${attn ? 2 : 1}.conv`,
          kind: 'sampler',
        });
    }
  }
  return pairs;
}

/** diffusers ResnetBlock2D member → LDM ResBlock member. */
const RESNET_MEMBERS: readonly [string, string][] = [
  ['conv1', 'in_layers.2'],
  ['norm1', 'in_layers.0'],
  ['conv2', 'out_layers.3'],
  ['norm2', 'out_layers.0'],
  ['time_emb_proj', 'emb_layers.1'],
  ['conv_shortcut', 'skip_connection'],
];

/** LDM module path → diffusers module path, by the block pairs (null: not a block module). */
export function ldmToDiffusers(pairs: readonly BlockPair[], ldmModule: string): string | null {
  for (const p of pairs) {
    if (ldmModule !== p.ldm && !ldmModule.startsWith(`${p.ldm}.`)) continue;
    const rest = ldmModule.slice(p.ldm.length);
    if (p.kind !== 'resnet') return p.diffusers + rest;
    for (const [d, l] of RESNET_MEMBERS)
      if (rest === `.${l}` || rest.startsWith(`.${l}.`))
        return `${p.diffusers}.${d}${rest.slice(l.length + 1)}`;
    return null;
  }
  return null;
}

/** Attention blocks of an SD3 / SD3.5 MMDiT (SAI names and diffusers names), with real widths. */
export interface Sd3Config {
  readonly depth: number;
  readonly hidden: number;
  /** Blocks with the MMDiT-X second (image-only) attention: SD3.5 medium has 0–12. */
  readonly dualAttention: readonly number[];
}

const PATCH_OUT = 2 * 2 * 16; // patch 2, 16 latent channels

/** diffusers SD3Transformer2DModel: name → shape (weights only). */
export function sd3DiffusersBase(c: Sd3Config): Record<string, number[]> {
  const H = c.hidden;
  const keys: Record<string, number[]> = {
    'pos_embed.proj.weight': [H, 16, 2, 2],
    'time_text_embed.timestep_embedder.linear_1.weight': [H, 256],
    'time_text_embed.timestep_embedder.linear_2.weight': [H, H],
    'time_text_embed.text_embedder.linear_1.weight': [H, 2048],
    'time_text_embed.text_embedder.linear_2.weight': [H, H],
    'context_embedder.weight': [H, 4096],
    'norm_out.linear.weight': [2 * H, H],
    'proj_out.weight': [PATCH_OUT, H],
  };
  for (let i = 0; i < c.depth; i++) {
    const b = `transformer_blocks.${i}`;
    const last = i === c.depth - 1; // context_pre_only
    const dual = c.dualAttention.includes(i);
    keys[`${b}.norm1.linear.weight`] = [(dual ? 9 : 6) * H, H];
    keys[`${b}.norm1_context.linear.weight`] = [(last ? 2 : 6) * H, H];
    for (const p of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj'])
      keys[`${b}.attn.${p}.weight`] = [H, H];
    keys[`${b}.attn.to_out.0.weight`] = [H, H];
    if (!last) keys[`${b}.attn.to_add_out.weight`] = [H, H];
    if (dual) {
      for (const p of ['to_q', 'to_k', 'to_v']) keys[`${b}.attn2.${p}.weight`] = [H, H];
      keys[`${b}.attn2.to_out.0.weight`] = [H, H];
    }
    keys[`${b}.ff.net.0.proj.weight`] = [4 * H, H];
    keys[`${b}.ff.net.2.weight`] = [H, 4 * H];
    if (!last) {
      keys[`${b}.ff_context.net.0.proj.weight`] = [4 * H, H];
      keys[`${b}.ff_context.net.2.weight`] = [H, 4 * H];
    }
  }
  return keys;
}

/** SAI MMDiT checkpoint (sd3_medium.safetensors, ComfyUI): name → shape, under model.diffusion_model. */
export function sd3SaiBase(c: Sd3Config): Record<string, number[]> {
  const H = c.hidden;
  const m = 'model.diffusion_model.';
  const keys: Record<string, number[]> = {
    [`${m}pos_embed`]: [1, 192 * 192, H],
    [`${m}x_embedder.proj.weight`]: [H, 16, 2, 2],
    [`${m}t_embedder.mlp.0.weight`]: [H, 256],
    [`${m}t_embedder.mlp.2.weight`]: [H, H],
    [`${m}y_embedder.mlp.0.weight`]: [H, 2048],
    [`${m}y_embedder.mlp.2.weight`]: [H, H],
    [`${m}context_embedder.weight`]: [H, 4096],
    [`${m}final_layer.adaLN_modulation.1.weight`]: [2 * H, H],
    [`${m}final_layer.linear.weight`]: [PATCH_OUT, H],
  };
  for (let i = 0; i < c.depth; i++) {
    const last = i === c.depth - 1; // context_block is pre_only
    const dual = c.dualAttention.includes(i);
    for (const side of ['x_block', 'context_block']) {
      const b = `${m}joint_blocks.${i}.${side}`;
      const preOnly = side === 'context_block' && last;
      const mods = preOnly ? 2 : side === 'x_block' && dual ? 9 : 6;
      keys[`${b}.adaLN_modulation.1.weight`] = [mods * H, H];
      keys[`${b}.attn.qkv.weight`] = [3 * H, H];
      keys[`${b}.attn.qkv.bias`] = [3 * H];
      if (!preOnly) {
        keys[`${b}.attn.proj.weight`] = [H, H];
        keys[`${b}.mlp.fc1.weight`] = [4 * H, H];
        keys[`${b}.mlp.fc2.weight`] = [H, 4 * H];
      }
      if (side === 'x_block' && dual) {
        keys[`${b}.attn2.qkv.weight`] = [3 * H, H];
        keys[`${b}.attn2.proj.weight`] = [H, H];
      }
    }
  }
  return keys;
}

/**
 * diffusers module → [SAI module, q/k/v part or null], from convert_sd3_to_diffusers.py. `swapped`:
 * diffusers keeps the two halves (scale, shift) in the other order (AdaLayerNormContinuous).
 */
export function sd3DiffusersToSai(
  c: Sd3Config,
): { diffusers: string; sai: string; part: 0 | 1 | 2 | null; swapped: boolean }[] {
  const out: { diffusers: string; sai: string; part: 0 | 1 | 2 | null; swapped: boolean }[] = [
    { diffusers: 'pos_embed.proj', sai: 'x_embedder.proj', part: null, swapped: false },
    {
      diffusers: 'time_text_embed.timestep_embedder.linear_1',
      sai: 't_embedder.mlp.0',
      part: null,
      swapped: false,
    },
    {
      diffusers: 'time_text_embed.timestep_embedder.linear_2',
      sai: 't_embedder.mlp.2',
      part: null,
      swapped: false,
    },
    {
      diffusers: 'time_text_embed.text_embedder.linear_1',
      sai: 'y_embedder.mlp.0',
      part: null,
      swapped: false,
    },
    {
      diffusers: 'time_text_embed.text_embedder.linear_2',
      sai: 'y_embedder.mlp.2',
      part: null,
      swapped: false,
    },
    { diffusers: 'context_embedder', sai: 'context_embedder', part: null, swapped: false },
    { diffusers: 'proj_out', sai: 'final_layer.linear', part: null, swapped: false },
    {
      diffusers: 'norm_out.linear',
      sai: 'final_layer.adaLN_modulation.1',
      part: null,
      swapped: true,
    },
  ];
  for (let i = 0; i < c.depth; i++) {
    const d = `transformer_blocks.${i}`;
    const x = `joint_blocks.${i}.x_block`;
    const ctx = `joint_blocks.${i}.context_block`;
    const last = i === c.depth - 1;
    const add = (diffusers: string, sai: string, part: 0 | 1 | 2 | null = null, swapped = false) =>
      out.push({ diffusers: `${d}.${diffusers}`, sai, part, swapped });
    add('attn.to_q', `${x}.attn.qkv`, 0);
    add('attn.to_k', `${x}.attn.qkv`, 1);
    add('attn.to_v', `${x}.attn.qkv`, 2);
    add('attn.add_q_proj', `${ctx}.attn.qkv`, 0);
    add('attn.add_k_proj', `${ctx}.attn.qkv`, 1);
    add('attn.add_v_proj', `${ctx}.attn.qkv`, 2);
    add('attn.to_out.0', `${x}.attn.proj`);
    add('ff.net.0.proj', `${x}.mlp.fc1`);
    add('ff.net.2', `${x}.mlp.fc2`);
    add('norm1.linear', `${x}.adaLN_modulation.1`);
    add('norm1_context.linear', `${ctx}.adaLN_modulation.1`, null, last);
    if (!last) {
      add('attn.to_add_out', `${ctx}.attn.proj`);
      add('ff_context.net.0.proj', `${ctx}.mlp.fc1`);
      add('ff_context.net.2', `${ctx}.mlp.fc2`);
    }
    if (c.dualAttention.includes(i)) {
      add('attn2.to_q', `${x}.attn2.qkv`, 0);
      add('attn2.to_k', `${x}.attn2.qkv`, 1);
      add('attn2.to_v', `${x}.attn2.qkv`, 2);
      add('attn2.to_out.0', `${x}.attn2.proj`);
    }
  }
  return out;
}

/** Qwen-Image transformer (diffusers QwenImageTransformer2DModel = ComfyUI qwen_image names). */
export function qwenImageBase(depth: number, prefix = ''): Record<string, number[]> {
  const H = 3072; // 24 heads × 128
  const keys: Record<string, number[]> = {
    [`${prefix}img_in.weight`]: [H, 64],
    [`${prefix}txt_norm.weight`]: [3584],
    [`${prefix}txt_in.weight`]: [H, 3584],
    [`${prefix}time_text_embed.timestep_embedder.linear_1.weight`]: [H, 256],
    [`${prefix}time_text_embed.timestep_embedder.linear_2.weight`]: [H, H],
    [`${prefix}norm_out.linear.weight`]: [2 * H, H],
    [`${prefix}proj_out.weight`]: [64, H],
  };
  for (let i = 0; i < depth; i++) {
    const b = `${prefix}transformer_blocks.${i}`;
    keys[`${b}.img_mod.1.weight`] = [6 * H, H];
    keys[`${b}.txt_mod.1.weight`] = [6 * H, H];
    for (const p of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj'])
      keys[`${b}.attn.${p}.weight`] = [H, H];
    keys[`${b}.attn.to_out.0.weight`] = [H, H];
    keys[`${b}.attn.to_add_out.weight`] = [H, H];
    for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k'])
      keys[`${b}.attn.${n}.weight`] = [128];
    for (const s of ['img_mlp', 'txt_mlp']) {
      keys[`${b}.${s}.net.0.proj.weight`] = [4 * H, H];
      keys[`${b}.${s}.net.2.weight`] = [H, 4 * H];
    }
  }
  return keys;
}

/** Module paths of a key list with [in, out, ...kernel] for every 2+-D weight matching `pick`. */
export function moduleShapes(
  keys: Readonly<Record<string, readonly number[]>>,
  pick: RegExp = /./,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, shape] of Object.entries(keys)) {
    if (!k.endsWith('.weight') || shape.length < 2 || !pick.test(k)) continue;
    const [o = 0, i = 0, ...kernel] = shape;
    out.set(k.slice(0, -'.weight'.length), [i, o, ...kernel]);
  }
  return out;
}
