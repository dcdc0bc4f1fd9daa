import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, ModelFacts } from '../types.js';
import {
  applyConfig,
  boolOf,
  checkRows,
  intOf,
  modelType,
  standardConfigDims,
  textConfig,
  type ConfigDims,
} from './config.js';
import { axis, groupsWith, keys, stripTail, type BlockGroup } from './llmShapes.js';
import { colsOf, headsUnknown, layersOf, Part, rowsOf, shapeText } from './part.js';

/** GPT-2, GPT-NeoX (Pythia), Falcon and OPT: fused or plain attention with their own tensor names. */

interface Spec {
  readonly family: string;
  readonly container: string;
  readonly required: readonly string[];
  /** Module path(s) between the component prefix and the blocks (`transformer.`, `model.decoder.`). */
  readonly inners: readonly string[];
  readonly blocks: ReadonlySet<string>;
  /** Non-block tensors under the inner module path. */
  readonly tops: readonly string[];
  /** Output head tensors under the component prefix. */
  readonly heads: readonly string[];
  readonly embed: string;
  readonly configTypes: readonly string[];
  readonly why: string;
  /** Fills hidden / intermediate / heads from the blocks; returns the attention input rows for checks. */
  dims(part: Part, g: BlockGroup, embed: readonly number[] | undefined): void;
  configExtra(cfg: Readonly<Record<string, unknown>>): ConfigDims;
}

const LN_WB = ['weight', 'bias'];
const r = (g: BlockGroup, k: string) => g.rests.get(k);

const GPT2: Spec = {
  family: 'gpt2',
  container: 'h',
  required: ['attn.c_attn.weight', 'mlp.c_fc.weight'],
  inners: ['transformer.'],
  blocks: new Set([
    ...keys(['ln_1', 'ln_2', 'attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], LN_WB),
    'attn.bias',
    'attn.masked_bias',
  ]),
  tops: ['wte.weight', 'wpe.weight', ...keys(['ln_f'])],
  heads: ['lm_head.weight'],
  embed: 'wte.weight',
  configTypes: ['gpt2'],
  why: 'Conv1D attn.c_attn / mlp.c_fc blocks under h.N with wte/wpe: GPT-2',
  dims(part, g, embed) {
    // Conv1D stores [in, out]: c_attn [H, 3H], c_fc [H, I].
    const attn = r(g, 'attn.c_attn.weight');
    const hidden = axis(embed, 1) ?? rowsOf(attn);
    part.set('hiddenSize', hidden, 'no wte or c_attn to read the width from');
    part.set('intermediateSize', colsOf(r(g, 'mlp.c_fc.weight')), 'mlp.c_fc has no second axis');
    headsUnknown(
      part,
      `no config: the fused c_attn ${shapeText(attn?.shape)} is 3 × hidden whatever the head count`,
    );
  },
  configExtra(cfg) {
    const hidden = intOf(cfg, 'n_embd', 'hidden_size');
    const inner = intOf(cfg, 'n_inner');
    return {
      intermediateSize:
        inner ??
        (hidden ? { key: `4 × ${hidden.key} (n_inner null)`, value: 4 * hidden.value } : null),
    };
  },
};

const NEOX: Spec = {
  family: 'gpt_neox',
  container: 'layers',
  required: ['attention.query_key_value.weight', 'mlp.dense_h_to_4h.weight'],
  inners: ['gpt_neox.'],
  blocks: new Set([
    ...keys([
      'input_layernorm',
      'post_attention_layernorm',
      'attention.query_key_value',
      'attention.dense',
    ]),
    ...keys(['mlp.dense_h_to_4h', 'mlp.dense_4h_to_h']),
    'attention.bias',
    'attention.masked_bias',
    'attention.rotary_emb.inv_freq',
  ]),
  tops: ['embed_in.weight', ...keys(['final_layer_norm']), 'rotary_emb.inv_freq'],
  heads: ['embed_out.weight'],
  embed: 'embed_in.weight',
  configTypes: ['gpt_neox'],
  why: 'attention.query_key_value with mlp.dense_h_to_4h under layers.N and embed_in: GPT-NeoX',
  dims(part, g, embed) {
    const qkv = r(g, 'attention.query_key_value.weight');
    part.set('hiddenSize', axis(embed, 1) ?? colsOf(qkv), 'no embed_in or query_key_value');
    part.set('intermediateSize', rowsOf(r(g, 'mlp.dense_h_to_4h.weight')), 'no dense_h_to_4h rows');
    // Partial rotary: inv_freq covers rotary_pct of the head, so it does not give head_dim.
    headsUnknown(
      part,
      `no config: query_key_value ${shapeText(qkv?.shape)} is 3 × hidden whatever the head count`,
    );
  },
  configExtra: () => ({}),
};

const FALCON: Spec = {
  family: 'falcon',
  container: 'h',
  required: ['self_attention.query_key_value.weight', 'mlp.dense_h_to_4h.weight'],
  inners: ['transformer.'],
  blocks: new Set([
    ...keys(['input_layernorm', 'post_attention_layernorm', 'ln_attn', 'ln_mlp']),
    ...keys([
      'self_attention.query_key_value',
      'self_attention.dense',
      'mlp.dense_h_to_4h',
      'mlp.dense_4h_to_h',
    ]),
  ]),
  tops: ['word_embeddings.weight', ...keys(['ln_f'])],
  heads: ['lm_head.weight'],
  embed: 'word_embeddings.weight',
  configTypes: ['falcon', 'RefinedWeb', 'RefinedWebModel'],
  why: 'self_attention.query_key_value with mlp.dense_h_to_4h under h.N and word_embeddings: Falcon',
  dims(part, g, embed) {
    const qkv = r(g, 'self_attention.query_key_value.weight');
    const hidden = axis(embed, 1) ?? colsOf(qkv);
    part.set('hiddenSize', hidden, 'no word_embeddings or query_key_value');
    part.set('intermediateSize', rowsOf(r(g, 'mlp.dense_h_to_4h.weight')), 'no dense_h_to_4h rows');
    const rows = rowsOf(qkv);
    if (rows !== null && hidden !== null && rows > hidden) {
      part.note(
        'shapes',
        `query_key_value ${rows} rows = hidden ${hidden} + ${rows - hidden} for K and V: grouped or multi-query`,
      );
    }
    headsUnknown(
      part,
      `no config: query_key_value ${rows ?? '?'} rows = (heads + 2 × kv) × head_dim, split unknown`,
    );
  },
  configExtra(cfg) {
    const heads = intOf(cfg, 'num_attention_heads', 'n_head');
    const hidden = intOf(cfg, 'hidden_size');
    const newArch = boolOf(cfg, 'new_decoder_architecture') === true;
    const kv = newArch
      ? intOf(cfg, 'num_kv_heads')
      : boolOf(cfg, 'multi_query') !== false
        ? { key: 'multi_query', value: 1 }
        : heads;
    return {
      numKeyValueHeads: kv,
      intermediateSize:
        intOf(cfg, 'ffn_hidden_size') ??
        (hidden
          ? { key: `4 × ${hidden.key} (no ffn_hidden_size)`, value: 4 * hidden.value }
          : null),
    };
  },
};

const OPT: Spec = {
  family: 'opt',
  container: 'layers',
  required: ['self_attn.out_proj.weight', 'fc1.weight', 'self_attn_layer_norm.weight'],
  inners: ['model.decoder.', 'decoder.'],
  blocks: new Set(
    keys([
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.out_proj',
      'self_attn_layer_norm',
      'fc1',
      'fc2',
      'final_layer_norm',
    ]),
  ),
  tops: [
    'embed_tokens.weight',
    'embed_positions.weight',
    ...keys(['final_layer_norm']),
    'project_in.weight',
    'project_out.weight',
  ],
  heads: ['lm_head.weight'],
  embed: 'embed_tokens.weight',
  configTypes: ['opt'],
  why: 'self_attn.out_proj, fc1/fc2 and self_attn_layer_norm under decoder.layers.N: OPT',
  dims(part, g) {
    // embed_tokens may be narrower (word_embed_proj_dim, OPT-350m): the block width is the hidden size.
    const q = r(g, 'self_attn.q_proj.weight');
    part.set('hiddenSize', colsOf(q), 'no self_attn.q_proj');
    part.set('intermediateSize', rowsOf(r(g, 'fc1.weight')), 'no fc1 rows');
    headsUnknown(
      part,
      `no config: q/k/v_proj share one width ${rowsOf(q) ?? '?'}, whatever the head count`,
    );
  },
  configExtra: () => ({}),
};

function recognizeWith(facts: ModelFacts, spec: Spec, g: BlockGroup): ArchitectureComponent {
  const part = new Part(facts);
  const inner = g.pre;
  const root = stripTail(inner, spec.inners);
  part.claimBlocks(g, spec.blocks);
  part.tops(spec.tops.map((t) => `${inner}${t}`));
  const embed = part.top(`${inner}${spec.embed}`);
  let head: readonly number[] | undefined;
  for (const h of spec.heads) head = part.top(`${root}${h}`) ?? head;
  part.note('names', spec.why);
  layersOf(part, g);
  const vocab = axis(embed, 0) ?? axis(head, 0);
  part.set('vocabSize', vocab, `no ${spec.embed} or output head`);
  if (embed) part.note('shapes', `${spec.embed} ${shapeText(embed)}: vocab ${vocab ?? '?'}`);
  part.set('numExperts', 0, '');
  spec.dims(part, g, embed);
  const headName = spec.heads[0] ?? 'lm_head.weight';
  if (head === undefined) {
    part.set('tiedEmbeddings', true, '');
    part.note('names', `no ${headName}: the output head shares ${spec.embed}`);
  } else if (spec.family === 'gpt2' && embed && head.join() === embed.join()) {
    // GPT-2 always ties; some exports still write the shared matrix out a second time.
    part.set(
      'tiedEmbeddings',
      null,
      `${headName} saved beside ${spec.embed} with the same shape: a copy of the tied matrix or a separate head`,
    );
  } else {
    part.set('tiedEmbeddings', false, '');
    part.note('names', `separate ${headName} ${shapeText(head)}`);
  }
  const cfg = textConfig(facts);
  if (cfg !== null) {
    const mt = modelType(cfg);
    if (mt !== null && !spec.configTypes.includes(mt)) {
      part.note('config', `config model_type ${mt}, but the tensor names are ${spec.family}’s`);
    }
    applyConfig(part, standardConfigDims(cfg, spec.configExtra(cfg)));
    if (spec.family === 'opt') {
      checkRows(
        part,
        'self_attn.k_proj',
        rowsOf(r(g, 'self_attn.k_proj.weight')),
        part.dims.numKeyValueHeads,
      );
    }
    if (spec.family === 'falcon') {
      const h = part.dims.numAttentionHeads;
      const kv = part.dims.numKeyValueHeads;
      const rows = rowsOf(r(g, 'self_attention.query_key_value.weight'));
      if (h !== null && kv !== null)
        checkRows(part, `query_key_value (${h} + 2 × ${kv})`, rows, h + 2 * kv);
    }
  }
  return part.finish(spec.family, null, 'causal-lm', root);
}

function recognizer(spec: Spec): Recognizer {
  return {
    id: `llm-${spec.family}`,
    recognize(facts) {
      try {
        return groupsWith(facts, spec.container, spec.required).map((g) =>
          recognizeWith(facts, spec, g),
        );
      } catch {
        return [];
      }
    },
  };
}

export const gpt2Recognizer = recognizer(GPT2);
export const gptNeoxRecognizer = recognizer(NEOX);
export const falconRecognizer = recognizer(FALCON);
export const optRecognizer = recognizer(OPT);
