/**
 * diffusers UNet2DConditionModel → LDM/SGM UNetModel block numbering. The numbering depends on how
 * many res blocks each level has (SD1.x/SD2.x/SDXL: 2 down, 3 up; BK-SDM: 1 and 2; any config may
 * differ), so it is read from the base's own parameter names, LDM or diffusers, not assumed.
 */

/** One resolution level: the LDM block index of each res block (and its attention), and the sampler's. */
export interface UnetLevel {
  readonly blocks: readonly number[];
  readonly sampler: number | null;
}

export interface UnetLayout {
  /** down_blocks.i ↔ input_blocks.K */
  readonly down: readonly UnetLevel[];
  /** up_blocks.i ↔ output_blocks.K */
  readonly up: readonly UnetLevel[];
  /** middle_block.1 is the attention (else the mid block is resnets only). */
  readonly midAttention: boolean;
  /** Where the layout came from, for the reason. */
  readonly source: 'base LDM blocks' | 'base diffusers blocks' | 'SD default';
}

const isNum = (s: string | undefined): boolean => s !== undefined && /^\d+$/.test(s);
const RES_MEMBERS = new Set(['in_layers', 'out_layers', 'emb_layers', 'skip_connection']);

/** Levels from per-level res block counts and sampler presence, numbered the way LDM builds them. */
function numbered(
  counts: readonly number[],
  samplers: readonly boolean[],
  first: number,
  samplerInLastBlock: boolean,
): UnetLevel[] {
  let k = first;
  return counts.map((n, i) => {
    const blocks = Array.from({ length: n }, (_, j) => k + j);
    k += n;
    let sampler: number | null = null;
    if (samplers[i]) {
      if (samplerInLastBlock) sampler = k - 1;
      else sampler = k++;
    }
    return { blocks, sampler };
  });
}

/** SD1.x/SD2.x/SDXL numbering (2 res blocks down, 3 up), for names seen without a UNet base. */
export const SD_UNET_LAYOUT: UnetLayout = {
  down: numbered(new Array<number>(8).fill(2), new Array<boolean>(8).fill(true), 1, false),
  up: numbered(new Array<number>(8).fill(3), new Array<boolean>(8).fill(true), 0, true),
  midAttention: true,
  source: 'SD default',
};

/** LDM names: walk input_blocks / output_blocks in order; a sampler block closes a level. */
function fromLdm(paths: readonly (readonly string[])[]): UnetLayout | null {
  const inRes = new Set<number>();
  const inOp = new Set<number>();
  const outRes = new Set<number>();
  const outUp = new Set<number>();
  let midAttention = false;
  for (const [a, b, c, d] of paths) {
    if (!isNum(b)) continue;
    const k = Number(b);
    if (a === 'input_blocks' && k > 0 && c === '0') {
      if (d === 'op') inOp.add(k);
      else if (d !== undefined && RES_MEMBERS.has(d)) inRes.add(k);
    } else if (a === 'output_blocks') {
      if (c === '0' && d !== undefined && RES_MEMBERS.has(d)) outRes.add(k);
      else if ((c === '1' || c === '2') && d === 'conv') outUp.add(k);
    } else if (a === 'middle_block' && b === '1' && c !== undefined && !RES_MEMBERS.has(c))
      midAttention = true;
  }
  if (inRes.size === 0 && outRes.size === 0) return null;
  const walk = (res: Set<number>, samplers: Set<number>): UnetLevel[] => {
    const levels: UnetLevel[] = [];
    let blocks: number[] = [];
    const all = [...new Set([...res, ...samplers])].sort((x, y) => x - y);
    for (const k of all) {
      if (res.has(k)) blocks.push(k);
      if (samplers.has(k)) {
        levels.push({ blocks, sampler: k });
        blocks = [];
      }
    }
    if (blocks.length > 0) levels.push({ blocks, sampler: null });
    return levels;
  };
  return {
    down: walk(inRes, inOp),
    up: walk(outRes, outUp),
    midAttention,
    source: 'base LDM blocks',
  };
}

/** diffusers names: count resnets per block, note the samplers, number as LDM would. */
function fromDiffusers(paths: readonly (readonly string[])[]): UnetLayout | null {
  const count = { down_blocks: [] as number[], up_blocks: [] as number[] };
  const sampled = { down_blocks: [] as boolean[], up_blocks: [] as boolean[] };
  let midAttention = false;
  for (const [a, b, c, d] of paths) {
    if (a === 'mid_block' && b === 'attentions') midAttention = true;
    if ((a !== 'down_blocks' && a !== 'up_blocks') || !isNum(b)) continue;
    const i = Number(b);
    if (c === 'resnets' && isNum(d)) count[a][i] = Math.max(count[a][i] ?? 0, Number(d) + 1);
    if (c === 'downsamplers' || c === 'upsamplers') sampled[a][i] = true;
  }
  if (count.down_blocks.length === 0 && count.up_blocks.length === 0) return null;
  const dense = (xs: readonly number[]): number[] => Array.from(xs, (x) => x ?? 0);
  return {
    down: numbered(dense(count.down_blocks), sampled.down_blocks, 1, false),
    up: numbered(dense(count.up_blocks), sampled.up_blocks, 0, true),
    midAttention,
    source: 'base diffusers blocks',
  };
}

/** The base's UNet layout from its module paths (wrappers stripped), or null for a non-UNet base. */
export function unetLayoutOf(modulePaths: Iterable<string>): UnetLayout | null {
  const paths = [...modulePaths].map((p) => p.split('.'));
  return fromLdm(paths) ?? fromDiffusers(paths);
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
 * diffusers UNet segments → LDM numbering under `layout`; null when the name is not a diffusers UNet
 * name, or names a block the layout does not have. Down/upsamplers become `@downsample`/`@upsample`
 * because LDM puts the upsampler at `.1` or `.2` depending on whether the block has attention.
 */
export function diffusersUnetToLdm(s: readonly string[], layout: UnetLayout): string[] | null {
  const [a, b = '', c = '', d = ''] = s;
  const rest = s.slice(4);
  if ((a === 'down_blocks' || a === 'up_blocks') && isNum(b)) {
    const down = a === 'down_blocks';
    const level = (down ? layout.down : layout.up)[Number(b)];
    if (!level) return null;
    const stack = down ? 'input_blocks' : 'output_blocks';
    const block = isNum(d) ? level.blocks[Number(d)] : undefined;
    if (c === 'resnets' && block !== undefined) return [stack, String(block), '0', ...resnet(rest)];
    if (c === 'attentions' && block !== undefined) return [stack, String(block), '1', ...rest];
    const sampler = down ? c === 'downsamplers' : c === 'upsamplers';
    if (sampler && level.sampler !== null)
      return [stack, String(level.sampler), down ? '@downsample' : '@upsample'];
    return null;
  }
  if (a === 'mid_block' && isNum(c)) {
    const tail = s.slice(3);
    const j = Number(c);
    if (b === 'resnets')
      return ['middle_block', String(layout.midAttention ? 2 * j : j), ...resnet(tail)];
    if (b === 'attentions' && layout.midAttention) return ['middle_block', '1', ...tail];
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
