import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, Evidence, ModelFacts } from '../types.js';
import {
  blocksText,
  component,
  dimOf,
  ev,
  has,
  headsFrom,
  componentsAt,
  scanPart,
  shapeText,
} from './shared.js';

/** Flux.1 in the BFL naming (double_blocks / single_blocks) and in diffusers' FluxTransformer2DModel naming. */
interface Layout {
  readonly name: string;
  readonly anchor: string;
  readonly imgIn: string;
  readonly txtIn: string;
  readonly double: { readonly head: string; readonly tail: string };
  readonly single: { readonly head: string; readonly tail: string };
  readonly qkNorm: string;
  readonly ffn: string;
  readonly guidance: string;
  readonly roots: ReadonlySet<string>;
}

const BFL: Layout = {
  name: 'BFL Flux',
  anchor: 'double_blocks.0.img_attn.qkv.weight',
  imgIn: 'img_in.weight',
  txtIn: 'txt_in.weight',
  double: { head: 'double_blocks.', tail: 'img_attn.qkv.weight' },
  single: { head: 'single_blocks.', tail: 'linear1.weight' },
  qkNorm: 'double_blocks.0.img_attn.norm.query_norm.scale',
  ffn: 'double_blocks.0.img_mlp.0.weight',
  guidance: 'guidance_in.in_layer.weight',
  roots: new Set([
    'time_in',
    'guidance_in',
    'vector_in',
    'txt_in',
    'img_in',
    'double_blocks',
    'single_blocks',
    'final_layer',
  ]),
};

const DIFFUSERS: Layout = {
  name: 'diffusers FluxTransformer2DModel',
  anchor: 'single_transformer_blocks.0.proj_out.weight',
  imgIn: 'x_embedder.weight',
  txtIn: 'context_embedder.weight',
  double: { head: 'transformer_blocks.', tail: 'attn.to_q.weight' },
  single: { head: 'single_transformer_blocks.', tail: 'proj_out.weight' },
  qkNorm: 'transformer_blocks.0.attn.norm_q.weight',
  ffn: 'transformer_blocks.0.ff.net.0.proj.weight',
  guidance: 'time_text_embed.guidance_embedder.linear_1.weight',
  roots: new Set([
    'time_text_embed',
    'context_embedder',
    'x_embedder',
    'transformer_blocks',
    'single_transformer_blocks',
    'norm_out',
    'proj_out',
  ]),
};

function recognizeAt(
  facts: ModelFacts,
  prefix: string,
  layout: Layout,
): ArchitectureComponent | null {
  const imgIn = prefix + layout.imgIn;
  if (!has(facts, imgIn) || !has(facts, prefix + layout.txtIn)) return null;
  const hidden = dimOf(facts, imgIn, 0);
  const scan = scanPart(facts, prefix, {
    roots: layout.roots,
    probes: [layout.double, layout.single],
  });
  const double = scan.indices[0] ?? new Set<number>();
  const single = scan.indices[1] ?? new Set<number>();
  const headDim = dimOf(facts, prefix + layout.qkNorm, 0);
  const heads = headsFrom(hidden, headDim);
  const guidance = has(facts, prefix + layout.guidance);
  const evidence: Evidence[] = [
    ev('names', `${layout.name} names under '${prefix}' (${layout.anchor})`),
    ev('shapes', `${imgIn} is ${shapeText(facts, imgIn)}: width ${hidden ?? '?'}`),
    ev('names', `${blocksText(double, prefix + layout.double.head.slice(0, -1))} (double-stream)`),
    ev('names', `${blocksText(single, prefix + layout.single.head.slice(0, -1))} (single-stream)`),
  ];
  if (heads !== null)
    evidence.push(
      ev('shapes', `qk norm ${layout.qkNorm} is ${headDim} wide: ${heads} heads of ${headDim}`),
    );
  // The Flux.1 release shape; derivatives (pruned, Chroma…) keep the names but not the depth.
  let variant: string | null = null;
  if (hidden === 3072 && double.size === 19 && single.size === 38) {
    variant = guidance ? 'Flux.1 dev' : 'Flux.1 schnell';
    const what = layout.guidance.split('.').slice(0, -2).join('.');
    evidence.push(
      ev(
        'names',
        guidance ? `${what} present: Flux.1 dev` : `no ${what} (guidance embedder): Flux.1 schnell`,
      ),
    );
  }
  const layers = double.size + single.size;
  return component({
    family: 'flux',
    variant,
    kind: 'diffusion-transformer',
    prefix,
    evidence,
    dims: {
      hiddenSize: hidden,
      numLayers: layers > 0 ? layers : null,
      numAttentionHeads: heads,
      headDim: heads === null ? null : headDim,
      intermediateSize: dimOf(facts, prefix + layout.ffn, 0),
    },
    reasons: {
      numAttentionHeads: `no qk norm ${layout.qkNorm} that divides the width`,
      headDim: `no qk norm ${layout.qkNorm} that divides the width`,
      intermediateSize: `no ${layout.ffn}`,
    },
    scan,
  });
}

export const fluxRecognizer: Recognizer = {
  id: 'flux',
  recognize(facts) {
    return [BFL, DIFFUSERS].flatMap((layout) =>
      componentsAt(facts, layout.anchor, (f, prefix) => recognizeAt(f, prefix, layout)),
    );
  },
};
