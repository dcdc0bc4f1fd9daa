import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, Evidence, ModelFacts } from '../types.js';
import {
  blocksText,
  component,
  configInt,
  dimOf,
  ev,
  has,
  headsFrom,
  componentsAt,
  scanPart,
  shapeText,
} from './shared.js';

/** SD3 / SD3.5 MMDiT in the SAI single-file naming and in diffusers' SD3Transformer2DModel naming. */
interface Layout {
  readonly name: string;
  readonly anchor: string;
  readonly patch: string;
  readonly mustHave: readonly string[];
  readonly blockHead: string;
  readonly blockTail: string;
  readonly ffn: string;
  readonly qkNorm: string;
  readonly dual: string;
  readonly roots: ReadonlySet<string>;
}

const SAI: Layout = {
  name: 'SAI MMDiT',
  anchor: 'joint_blocks.0.x_block.attn.qkv.weight',
  patch: 'x_embedder.proj.weight',
  mustHave: ['context_embedder.weight'],
  blockHead: 'joint_blocks.',
  blockTail: 'x_block.attn.qkv.weight',
  ffn: 'joint_blocks.0.x_block.mlp.fc1.weight',
  qkNorm: 'joint_blocks.0.x_block.attn.ln_q.weight',
  dual: 'joint_blocks.0.x_block.attn2.qkv.weight',
  roots: new Set([
    'pos_embed',
    'x_embedder',
    't_embedder',
    'y_embedder',
    'context_embedder',
    'joint_blocks',
    'final_layer',
  ]),
};

const DIFFUSERS: Layout = {
  name: 'diffusers SD3Transformer2DModel',
  anchor: 'pos_embed.proj.weight',
  patch: 'pos_embed.proj.weight',
  mustHave: [
    'context_embedder.weight',
    'transformer_blocks.0.attn.to_q.weight',
    'transformer_blocks.0.norm1_context.linear.weight',
  ],
  blockHead: 'transformer_blocks.',
  blockTail: 'attn.to_q.weight',
  ffn: 'transformer_blocks.0.ff.net.0.proj.weight',
  qkNorm: 'transformer_blocks.0.attn.norm_q.weight',
  dual: 'transformer_blocks.0.attn2.to_q.weight',
  roots: new Set([
    'pos_embed',
    'time_text_embed',
    'context_embedder',
    'transformer_blocks',
    'norm_out',
    'proj_out',
  ]),
};

function variantOf(
  hidden: number | null,
  layers: number,
  qk: boolean,
  dual: boolean,
): string | null {
  if (hidden === 1536 && layers === 24 && dual && qk) return 'SD3.5 Medium';
  if (hidden === 1536 && layers === 24 && !dual && !qk) return 'SD3 Medium';
  if (hidden === 2432 && layers === 38 && qk && !dual) return 'SD3.5 Large';
  return null;
}

function recognizeAt(
  facts: ModelFacts,
  prefix: string,
  layout: Layout,
): ArchitectureComponent | null {
  const patch = prefix + layout.patch;
  if (!has(facts, patch) || layout.mustHave.some((k) => !has(facts, prefix + k))) return null;
  const hidden = dimOf(facts, patch, 0);
  const scan = scanPart(facts, prefix, {
    roots: layout.roots,
    probes: [{ head: layout.blockHead, tail: layout.blockTail }],
  });
  const blocks = scan.indices[0] ?? new Set<number>();
  const layers = blocks.size;
  const ffn = dimOf(facts, prefix + layout.ffn, 0);
  let headDim = dimOf(facts, prefix + layout.qkNorm, 0);
  const qk = headDim !== null;
  const dual = has(facts, prefix + layout.dual);
  const evidence: Evidence[] = [
    ev('names', `${layout.name} names under '${prefix}' (${layout.anchor})`),
    ev('shapes', `${patch} is ${shapeText(facts, patch)}: width ${hidden ?? '?'}`),
    ev('names', blocksText(blocks, prefix + layout.blockHead.slice(0, -1))),
    ev(
      'names',
      qk
        ? `qk norm ${layout.qkNorm} is ${headDim} wide: head dim ${headDim}`
        : `no qk norm (${layout.qkNorm})`,
    ),
    ev(
      'names',
      dual
        ? `${layout.dual} present: dual attention (MMDiT-X)`
        : `no ${layout.dual}: single attention`,
    ),
  ];
  let heads = headsFrom(hidden, headDim);
  let headSource = heads === null ? null : 'shapes';
  if (heads === null) {
    // SD3 Medium has no per-head tensor; diffusers' config states the split.
    const cHeads = configInt(facts, prefix, 'num_attention_heads');
    const cDim = configInt(facts, prefix, 'attention_head_dim');
    if (cHeads !== null && cDim !== null && hidden !== null && cHeads * cDim === hidden) {
      heads = cHeads;
      headDim = cDim;
      headSource = 'config';
      evidence.push(ev('config', `config.json: ${cHeads} heads of ${cDim}`));
    }
  }
  const variant = variantOf(hidden, layers, qk, dual);
  if (variant !== null)
    evidence.push(
      ev(
        'shapes',
        `width ${hidden}, ${layers} blocks${qk ? ', qk norm' : ''}${dual ? ', dual attention' : ''}: ${variant}`,
      ),
    );
  return component({
    family: 'sd3',
    variant,
    kind: 'diffusion-transformer',
    prefix,
    evidence,
    dims: {
      hiddenSize: hidden,
      numLayers: layers > 0 ? layers : null,
      numAttentionHeads: heads,
      headDim: headSource === null ? null : headDim,
      intermediateSize: ffn,
    },
    reasons: {
      numAttentionHeads: 'no qk norm and no config: q/k/v share one width',
      headDim: 'no qk norm and no config: q/k/v share one width',
      intermediateSize: `no ${layout.ffn}`,
    },
    scan,
  });
}

export const mmditRecognizer: Recognizer = {
  id: 'sd3',
  recognize(facts) {
    return [SAI, DIFFUSERS].flatMap((layout) =>
      componentsAt(facts, layout.anchor, (f, prefix) => recognizeAt(f, prefix, layout)),
    );
  },
};
