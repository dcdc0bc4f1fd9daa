import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, Evidence, ModelFacts } from '../types.js';
import {
  blocksText,
  component,
  configInt,
  dimOf,
  ev,
  has,
  componentsAt,
  scanPart,
  shapeText,
} from './shared.js';

/** CLIP width → the text encoder the diffusion models ship with. */
const CLIP_BY_WIDTH: ReadonlyMap<number, string> = new Map([
  [768, 'clip-l'],
  [1280, 'openclip-g'],
  [1024, 'openclip-h'],
]);

const CLIP_REASONS = {
  numAttentionHeads: 'no config and q/k/v share one width',
  headDim: 'no config and q/k/v share one width',
  tiedEmbeddings: 'an encoder has no output head',
};

/** Heads from config.json when it describes this part (same width). */
function configHeads(
  facts: ModelFacts,
  prefix: string,
  hidden: number | null,
  evidence: Evidence[],
): number | null {
  const heads = configInt(facts, prefix, 'num_attention_heads');
  if (heads === null || hidden === null || configInt(facts, prefix, 'hidden_size') !== hidden)
    return null;
  if (hidden % heads !== 0) return null;
  evidence.push(ev('config', `config.json: num_attention_heads ${heads}`));
  return heads;
}

/** transformers CLIPTextModel names (`text_model.` kept on disk, or dropped as kohya saves them). */
function clipHf(facts: ModelFacts, root: string): ArchitectureComponent | null {
  const tok = root + 'embeddings.token_embedding.weight';
  if (!has(facts, tok)) return null;
  const prefix = root.endsWith('text_model.') ? root.slice(0, -'text_model.'.length) : root;
  const hidden = dimOf(facts, tok, 1);
  const family = hidden === null ? undefined : CLIP_BY_WIDTH.get(hidden);
  if (family === undefined) return null;
  const inner = root.slice(prefix.length);
  const scan = scanPart(facts, prefix, {
    roots: new Set([
      'text_model',
      'text_projection',
      'logit_scale',
      'embeddings',
      'encoder',
      'final_layer_norm',
    ]),
    probes: [{ head: inner + 'encoder.layers.', tail: 'self_attn.q_proj.weight' }],
  });
  const layers = scan.indices[0] ?? new Set<number>();
  const evidence: Evidence[] = [
    ev(
      'names',
      `CLIP text-model names under '${root}' (embeddings.token_embedding, encoder.layers)`,
    ),
    ev('shapes', `${tok} is ${shapeText(facts, tok)}: width ${hidden}: ${family}`),
    ev('names', blocksText(layers, root + 'encoder.layers')),
  ];
  const heads = configHeads(facts, prefix, hidden, evidence);
  return component({
    family,
    variant: null,
    kind: 'text-encoder',
    prefix,
    evidence,
    dims: {
      hiddenSize: hidden,
      numLayers: layers.size > 0 ? layers.size : null,
      numAttentionHeads: heads,
      headDim: heads === null || hidden === null ? null : hidden / heads,
      intermediateSize: dimOf(facts, root + 'encoder.layers.0.mlp.fc1.weight', 0),
      vocabSize: dimOf(facts, tok, 0),
    },
    reasons: CLIP_REASONS,
    scan,
  });
}

/** open_clip names (SD 2.x `cond_stage_model.model.`, SDXL `conditioner.embedders.N.model.`). */
function openClip(facts: ModelFacts, prefix: string): ArchitectureComponent | null {
  const tok = prefix + 'token_embedding.weight';
  if (!has(facts, tok)) return null;
  const hidden = dimOf(facts, tok, 1);
  const family = hidden === null ? undefined : CLIP_BY_WIDTH.get(hidden);
  if (family === undefined) return null;
  const scan = scanPart(facts, prefix, {
    roots: new Set([
      'token_embedding',
      'positional_embedding',
      'transformer',
      'ln_final',
      'text_projection',
      'logit_scale',
    ]),
    probes: [{ head: 'transformer.resblocks.', tail: 'attn.in_proj_weight' }],
  });
  const layers = scan.indices[0] ?? new Set<number>();
  const evidence: Evidence[] = [
    ev('names', `open_clip text names under '${prefix}' (token_embedding, transformer.resblocks)`),
    ev('shapes', `${tok} is ${shapeText(facts, tok)}: width ${hidden}: ${family}`),
    ev('names', blocksText(layers, prefix + 'transformer.resblocks')),
  ];
  return component({
    family,
    variant: null,
    kind: 'text-encoder',
    prefix,
    evidence,
    dims: {
      hiddenSize: hidden,
      numLayers: layers.size > 0 ? layers.size : null,
      intermediateSize: dimOf(facts, prefix + 'transformer.resblocks.0.mlp.c_fc.weight', 0),
      vocabSize: dimOf(facts, tok, 0),
    },
    reasons: CLIP_REASONS,
    scan,
  });
}

const T5_SIZES: ReadonlyMap<number, string> = new Map([
  [512, 'Small'],
  [768, 'Base'],
  [1024, 'Large'],
  [2048, 'XL'],
  [4096, 'XXL'],
]);

/** T5EncoderModel (Flux / SD3 text encoder). A file with a decoder is a full T5, not claimed here. */
function t5Encoder(facts: ModelFacts, prefix: string): ArchitectureComponent | null {
  if (has(facts, prefix + 'decoder.block.0.layer.0.SelfAttention.q.weight')) return null;
  if (has(facts, prefix + 'decoder.final_layer_norm.weight')) return null;
  const q = prefix + 'encoder.block.0.layer.0.SelfAttention.q.weight';
  // Three names of the same encoder, not one that a stray tensor could share.
  if (!has(facts, prefix + 'encoder.block.0.layer.0.layer_norm.weight')) return null;
  if (!has(facts, prefix + 'encoder.final_layer_norm.weight')) return null;
  const bias = prefix + 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';
  const hidden = dimOf(facts, q, 1);
  const inner = dimOf(facts, q, 0);
  const heads = dimOf(facts, bias, 1);
  const headDim = heads !== null && inner !== null && inner % heads === 0 ? inner / heads : null;
  const gated = prefix + 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight';
  const ffn =
    dimOf(facts, gated, 0) ??
    dimOf(facts, prefix + 'encoder.block.0.layer.1.DenseReluDense.wi.weight', 0);
  const vocab =
    dimOf(facts, prefix + 'shared.weight', 0) ??
    dimOf(facts, prefix + 'encoder.embed_tokens.weight', 0);
  const scan = scanPart(facts, prefix, {
    roots: new Set(['shared', 'encoder']),
    probes: [{ head: 'encoder.block.', tail: 'layer.0.SelfAttention.q.weight' }],
  });
  const layers = scan.indices[0] ?? new Set<number>();
  const variant = hidden === null ? null : (T5_SIZES.get(hidden) ?? null);
  const evidence: Evidence[] = [
    ev('names', `T5 encoder names under '${prefix}' (encoder.block, no decoder.block)`),
    ev('shapes', `${q} is ${shapeText(facts, q)}: width ${hidden ?? '?'}`),
    ev('names', blocksText(layers, prefix + 'encoder.block')),
  ];
  if (heads !== null)
    evidence.push(ev('shapes', `${bias} is ${shapeText(facts, bias)}: ${heads} heads`));
  if (has(facts, gated))
    evidence.push(ev('names', 'DenseReluDense.wi_0/wi_1: gated feed-forward (T5 v1.1)'));
  if (variant !== null) evidence.push(ev('shapes', `width ${hidden}: T5 ${variant}`));
  return component({
    family: 't5-encoder',
    variant,
    kind: 'text-encoder',
    prefix,
    evidence,
    dims: {
      hiddenSize: hidden,
      numLayers: layers.size > 0 ? layers.size : null,
      numAttentionHeads: headDim === null ? null : heads,
      headDim,
      intermediateSize: ffn,
      vocabSize: vocab,
    },
    reasons: {
      numAttentionHeads: 'no relative_attention_bias in block 0 that divides the q width',
      headDim: 'no relative_attention_bias in block 0 that divides the q width',
      vocabSize: 'no shared.weight or encoder.embed_tokens.weight',
      tiedEmbeddings: 'an encoder has no output head',
    },
    scan,
  });
}

export const clipRecognizer: Recognizer = {
  id: 'clip-text',
  recognize: (facts) => [
    ...componentsAt(facts, 'encoder.layers.0.self_attn.q_proj.weight', clipHf),
    ...componentsAt(facts, 'transformer.resblocks.0.attn.in_proj_weight', openClip),
  ],
};

export const t5EncoderRecognizer: Recognizer = {
  id: 't5-encoder',
  recognize: (facts) =>
    componentsAt(facts, 'encoder.block.0.layer.0.SelfAttention.q.weight', t5Encoder),
};
