import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, ModelFacts } from '../types.js';
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

/** Qwen-Image (diffusers QwenImageTransformer2DModel): one stream of dual-modulated MMDiT blocks. */
const ANCHOR = 'transformer_blocks.0.img_mod.1.weight';
const ROOTS: ReadonlySet<string> = new Set([
  'time_text_embed',
  'txt_norm',
  'img_in',
  'txt_in',
  'transformer_blocks',
  'norm_out',
  'proj_out',
]);

function recognizeAt(facts: ModelFacts, prefix: string): ArchitectureComponent | null {
  const imgIn = prefix + 'img_in.weight';
  if (!has(facts, imgIn) || !has(facts, prefix + 'txt_norm.weight')) return null;
  const hidden = dimOf(facts, imgIn, 0);
  const scan = scanPart(facts, prefix, {
    roots: ROOTS,
    probes: [{ head: 'transformer_blocks.', tail: 'img_mod.1.weight' }],
  });
  const blocks = scan.indices[0] ?? new Set<number>();
  const qk = prefix + 'transformer_blocks.0.attn.norm_q.weight';
  const headDim = dimOf(facts, qk, 0);
  const heads = headsFrom(hidden, headDim);
  const textWidth = dimOf(facts, prefix + 'txt_norm.weight', 0);
  const evidence = [
    ev('names', `Qwen-Image names under '${prefix}' (img_in, txt_norm, ${ANCHOR})`),
    ev('shapes', `${imgIn} is ${shapeText(facts, imgIn)}: width ${hidden ?? '?'}`),
    ev('shapes', `txt_norm.weight is ${textWidth ?? '?'} wide: the Qwen2.5-VL text width`),
    ev('names', blocksText(blocks, prefix + 'transformer_blocks')),
  ];
  if (heads !== null)
    evidence.push(ev('shapes', `qk norm ${qk} is ${headDim} wide: ${heads} heads of ${headDim}`));
  return component({
    family: 'qwen-image',
    variant: null,
    kind: 'diffusion-transformer',
    prefix,
    evidence,
    dims: {
      hiddenSize: hidden,
      numLayers: blocks.size > 0 ? blocks.size : null,
      numAttentionHeads: heads,
      headDim: heads === null ? null : headDim,
      intermediateSize: dimOf(facts, prefix + 'transformer_blocks.0.img_mlp.net.0.proj.weight', 0),
    },
    reasons: {
      numAttentionHeads: 'no qk norm that divides the width',
      headDim: 'no qk norm that divides the width',
      intermediateSize: 'no transformer_blocks.0.img_mlp.net.0.proj.weight',
    },
    scan,
  });
}

export const qwenImageRecognizer: Recognizer = {
  id: 'qwen-image',
  recognize(facts) {
    return componentsAt(facts, ANCHOR, recognizeAt);
  },
};
