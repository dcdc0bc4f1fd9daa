import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, Evidence, ModelFacts } from '../types.js';
import { component, dimOf, ev, has, componentsAt, scanPart, shapeText } from './shared.js';

/** The two namings of the same UNet: diffusers (UNet2DConditionModel) and LDM/SGM (single-file checkpoints). */
interface Layout {
  readonly name: string;
  /** A name every UNet of this layout has; what precedes it is the part's prefix. */
  readonly anchor: string;
  readonly convIn: string;
  readonly mustHave: string;
  /** Where the context width shows, most likely first (the middle block is cross-attention in every SD UNet). */
  readonly contextKeys: readonly string[];
  readonly adm: string;
  readonly roots: ReadonlySet<string>;
}

const DIFFUSERS: Layout = {
  name: 'diffusers',
  anchor: 'time_embedding.linear_1.weight',
  convIn: 'conv_in.weight',
  mustHave: 'down_blocks.0.resnets.0.conv1.weight',
  contextKeys: [
    'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight',
    ...[0, 1, 2, 3].map(
      (i) => `down_blocks.${i}.attentions.0.transformer_blocks.0.attn2.to_k.weight`,
    ),
  ],
  adm: 'add_embedding.linear_1.weight',
  roots: new Set([
    'conv_in',
    'time_embedding',
    'add_embedding',
    'class_embedding',
    'encoder_hid_proj',
    'down_blocks',
    'mid_block',
    'up_blocks',
    'conv_norm_out',
    'conv_out',
  ]),
};

const LDM: Layout = {
  name: 'LDM/SGM',
  anchor: 'time_embed.0.weight',
  convIn: 'input_blocks.0.0.weight',
  mustHave: 'input_blocks.1.0.in_layers.0.weight',
  contextKeys: [
    'middle_block.1.transformer_blocks.0.attn2.to_k.weight',
    ...[1, 2, 4, 5, 7, 8].map((i) => `input_blocks.${i}.1.transformer_blocks.0.attn2.to_k.weight`),
  ],
  adm: 'label_emb.0.0.weight',
  roots: new Set([
    'time_embed',
    'label_emb',
    'input_blocks',
    'middle_block',
    'output_blocks',
    'out',
  ]),
};

/** Context width of the cross-attention → family: the text encoder each UNet was trained with. */
const BY_CONTEXT: ReadonlyMap<number, { family: string; variant: string; why: string }> = new Map([
  [768, { family: 'sd1', variant: 'SD 1.x', why: 'CLIP-L context' }],
  [1024, { family: 'sd2', variant: 'SD 2.x', why: 'OpenCLIP-H context' }],
  [2048, { family: 'sdxl', variant: 'SDXL', why: 'CLIP-L + OpenCLIP-G context' }],
  [1280, { family: 'sdxl-refiner', variant: 'SDXL refiner', why: 'OpenCLIP-G context' }],
]);

function recognizeAt(
  facts: ModelFacts,
  prefix: string,
  layout: Layout,
): ArchitectureComponent | null {
  const convIn = prefix + layout.convIn;
  if (!has(facts, convIn) || !has(facts, prefix + layout.mustHave)) return null;
  const base = dimOf(facts, convIn, 0);
  const inChannels = dimOf(facts, convIn, 1);
  const evidence: Evidence[] = [
    ev('names', `${layout.name} UNet names under '${prefix}' (${layout.anchor}, ${layout.convIn})`),
    ev(
      'shapes',
      `${convIn} is ${shapeText(facts, convIn)}: ${base ?? '?'} base channels, ${inChannels ?? '?'} input channels`,
    ),
  ];
  let context: number | null = null;
  for (const key of layout.contextKeys) {
    context = dimOf(facts, prefix + key, 1);
    if (context !== null) {
      evidence.push(
        ev(
          'shapes',
          `${prefix + key} is ${shapeText(facts, prefix + key)}: ${context}-wide cross-attention context`,
        ),
      );
      break;
    }
  }
  const adm = dimOf(facts, prefix + layout.adm, 1);
  if (adm !== null)
    evidence.push(
      ev('shapes', `${prefix + layout.adm} takes ${adm} inputs: SDXL-style size/crop conditioning`),
    );

  const known = context === null ? undefined : BY_CONTEXT.get(context);
  // SDXL base and refiner are told apart by the context width; the added conditioning must agree.
  const consistent =
    known !== undefined && (known.family.startsWith('sdxl') ? adm !== null : adm === null);
  let family = 'unknown';
  let variant: string | null = null;
  if (known !== undefined && consistent) {
    family = known.family;
    variant = known.variant;
    evidence.push(ev('shapes', `${context}-wide context (${known.why}): ${known.variant}`));
    if (inChannels === 9) {
      variant = `${known.variant} inpainting`;
      evidence.push(
        ev('shapes', '9 input channels (latent + masked-image latent + mask): inpainting'),
      );
    }
  }

  const scan = scanPart(facts, prefix, { roots: layout.roots, ends: ['attn1.to_q.weight'] });
  const blocks = scan.endCounts[0] ?? 0;
  evidence.push(ev('names', `${blocks} transformer blocks (attn1.to_q.weight)`));
  return component({
    family,
    variant,
    kind: 'diffusion-unet',
    prefix,
    evidence,
    dims: { hiddenSize: base, numLayers: blocks > 0 ? blocks : null },
    reasons: {
      hiddenSize: 'conv_in has no readable output width',
      numLayers: 'no transformer blocks (attn1.to_q.weight)',
      numAttentionHeads:
        'UNet heads are a config value (attention_head_dim); q/k/v share one width',
      headDim: 'UNet heads are a config value (attention_head_dim); q/k/v share one width',
      intermediateSize: 'the feed-forward width differs per UNet level',
    },
    scan,
  });
}

export const unetRecognizer: Recognizer = {
  id: 'sd-unet',
  recognize(facts) {
    return [DIFFUSERS, LDM].flatMap((layout) =>
      componentsAt(facts, layout.anchor, (f, prefix) => recognizeAt(f, prefix, layout)),
    );
  },
};
