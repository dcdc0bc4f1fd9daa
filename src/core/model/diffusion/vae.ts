import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, ModelFacts } from '../types.js';
import { component, dimOf, ev, has, componentsAt, scanPart, shapeText } from './shared.js';

/** AutoencoderKL in diffusers names (down_blocks/up_blocks) or LDM names (down/up/mid.block_1). */
const ANCHOR = 'decoder.conv_in.weight';
const ROOTS: ReadonlySet<string> = new Set(['encoder', 'decoder', 'quant_conv', 'post_quant_conv']);

function recognizeAt(facts: ModelFacts, prefix: string): ArchitectureComponent | null {
  const encIn = prefix + 'encoder.conv_in.weight';
  if (!has(facts, encIn)) return null;
  const diffusers = has(facts, prefix + 'encoder.down_blocks.0.resnets.0.conv1.weight');
  const ldm = has(facts, prefix + 'encoder.down.0.block.0.conv1.weight');
  if (!diffusers && !ldm) return null;
  const decIn = prefix + ANCHOR;
  // The decoder's input is the latent: 4 channels for SD 1/2/XL, 16 for SD3 and Flux.
  const latent = dimOf(facts, decIn, 1);
  const base = dimOf(facts, encIn, 0);
  const scan = scanPart(facts, prefix, { roots: ROOTS });
  return component({
    family: 'vae',
    variant: latent === null ? null : `${latent}-channel latent`,
    kind: 'vae',
    prefix,
    evidence: [
      ev(
        'names',
        `${diffusers ? 'diffusers' : 'LDM'} AutoencoderKL names under '${prefix}' (encoder.conv_in, decoder.conv_in)`,
      ),
      ev('shapes', `${decIn} is ${shapeText(facts, decIn)}: ${latent ?? '?'} latent channels`),
      ev('shapes', `${encIn} is ${shapeText(facts, encIn)}: ${base ?? '?'} base channels`),
    ],
    dims: { hiddenSize: base },
    reasons: {
      hiddenSize: 'encoder.conv_in has no readable output width',
      numLayers: 'a VAE is convolutional: no transformer layers',
      numAttentionHeads: 'a VAE has one single-head attention in its middle block',
      headDim: 'a VAE has one single-head attention in its middle block',
      intermediateSize: 'a VAE is convolutional: no feed-forward',
    },
    scan,
  });
}

export const vaeRecognizer: Recognizer = {
  id: 'vae',
  recognize(facts) {
    return componentsAt(facts, ANCHOR, recognizeAt);
  },
};
