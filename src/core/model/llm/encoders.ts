import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, ModelFacts } from '../types.js';
import { applyConfig, checkRows, modelType, standardConfigDims, textConfig } from './config.js';
import { axis, groupAt, groupsWith, keys, stripTail, type BlockGroup } from './llmShapes.js';
import { colsOf, headsFrom, headsUnknown, layersOf, Part, rowsOf, shapeText } from './part.js';

/** BERT / RoBERTa encoders and T5 encoder-decoders. */

const BERT_BLOCKS: ReadonlySet<string> = new Set(
  keys([
    'attention.self.query',
    'attention.self.key',
    'attention.self.value',
    'attention.output.dense',
    'attention.output.LayerNorm',
    'intermediate.dense',
    'output.dense',
    'output.LayerNorm',
  ]),
);
const BERT_TOPS = [
  ...keys(
    [
      'embeddings.word_embeddings',
      'embeddings.position_embeddings',
      'embeddings.token_type_embeddings',
    ],
    ['weight'],
  ),
  ...keys(['embeddings.LayerNorm', 'pooler.dense']),
  'embeddings.position_ids',
  'embeddings.token_type_ids',
];
const MLM_HEADS = [
  'cls.predictions.bias',
  ...keys([
    'cls.predictions.transform.dense',
    'cls.predictions.transform.LayerNorm',
    'cls.predictions.decoder',
  ]),
  ...keys(['cls.seq_relationship']),
  'lm_head.bias',
  ...keys(['lm_head.dense', 'lm_head.layer_norm', 'lm_head.decoder']),
];

function recognizeBert(facts: ModelFacts, g: BlockGroup): ArchitectureComponent {
  const part = new Part(facts);
  const inner = stripTail(g.pre, ['encoder.']);
  const root = stripTail(inner, ['bert.', 'roberta.']);
  part.claimBlocks(g, BERT_BLOCKS);
  part.tops(BERT_TOPS.map((t) => `${inner}${t}`));
  part.tops(MLM_HEADS.map((t) => `${root}${t}`));
  const words = facts.shapes.get(`${inner}embeddings.word_embeddings.weight`);
  const types = facts.shapes.get(`${inner}embeddings.token_type_embeddings.weight`);
  const q = g.rests.get('attention.self.query.weight');
  layersOf(part, g);
  part.set('hiddenSize', axis(words, 1) ?? colsOf(q), 'no word_embeddings or attention.self.query');
  part.set('vocabSize', axis(words, 0), 'no embeddings.word_embeddings');
  part.set(
    'intermediateSize',
    rowsOf(g.rests.get('intermediate.dense.weight')),
    'no intermediate.dense rows',
  );
  part.set('numExperts', 0, '');
  if (words) part.note('shapes', `word_embeddings ${shapeText(words)}`);
  headsUnknown(
    part,
    `no config: query/key/value share one width ${rowsOf(q) ?? '?'}, whatever the head count`,
  );

  const decoder =
    facts.shapes.has(`${root}cls.predictions.decoder.weight`) ||
    facts.shapes.has(`${root}lm_head.decoder.weight`);
  const mlm =
    facts.shapes.has(`${root}cls.predictions.bias`) ||
    facts.shapes.has(`${root}lm_head.dense.weight`);
  if (decoder) part.set('tiedEmbeddings', false, '');
  else if (mlm) {
    part.set('tiedEmbeddings', true, '');
    part.note('names', 'masked-LM head without a decoder weight: it shares word_embeddings');
  } else part.set('tiedEmbeddings', null, 'no output head in the file');

  // RoBERTa: its own module name, or one token type (BERT has two).
  let family = 'bert';
  if (inner.endsWith('roberta.') || inner === 'roberta.') {
    family = 'roberta';
    part.note('names', 'roberta. module prefix: RoBERTa');
  } else if (axis(types, 0) === 1) {
    family = 'roberta';
    part.note('shapes', `token_type_embeddings ${shapeText(types)}: one token type, RoBERTa`);
  } else part.note('names', 'attention.self.query/key/value blocks under encoder.layer.N: BERT');
  const cfg = textConfig(facts);
  if (cfg !== null) {
    const mt = modelType(cfg);
    if (mt === 'roberta' || mt === 'bert') {
      if (mt !== family)
        part.note('config', `config model_type ${mt} (the names alone say ${family})`);
      family = mt;
    } else if (mt !== null)
      part.note('config', `config model_type ${mt}, but the tensor names are BERT’s`);
    applyConfig(part, standardConfigDims(cfg));
    checkRows(
      part,
      'attention.self.key',
      rowsOf(g.rests.get('attention.self.key.weight')),
      part.dims.numKeyValueHeads,
    );
  }
  return part.finish(family, null, 'encoder', root);
}

export const bertRecognizer: Recognizer = {
  id: 'llm-bert',
  recognize(facts) {
    try {
      return groupsWith(facts, 'layer', [
        'attention.self.query.weight',
        'intermediate.dense.weight',
      ]).map((g) => recognizeBert(facts, g));
    } catch {
      return [];
    }
  },
};

const T5_BLOCKS: ReadonlySet<string> = new Set([
  ...['0', '1'].flatMap((l) =>
    keys(
      ['q', 'k', 'v', 'o'].map((p) => `layer.${l}.SelfAttention.${p}`),
      ['weight'],
    ),
  ),
  ...keys(
    ['q', 'k', 'v', 'o'].map((p) => `layer.1.EncDecAttention.${p}`),
    ['weight'],
  ),
  'layer.0.SelfAttention.relative_attention_bias.weight',
  ...['0', '1', '2'].map((l) => `layer.${l}.layer_norm.weight`),
  ...['1', '2'].flatMap((l) =>
    keys(
      ['wi', 'wi_0', 'wi_1', 'wo'].map((p) => `layer.${l}.DenseReluDense.${p}`),
      ['weight'],
    ),
  ),
]);
const SELF_Q = 'layer.0.SelfAttention.q.weight';

function recognizeT5(
  facts: ModelFacts,
  enc: BlockGroup,
  dec: BlockGroup,
  root: string,
): ArchitectureComponent {
  const part = new Part(facts);
  part.claimBlocks(enc, T5_BLOCKS);
  part.claimBlocks(dec, T5_BLOCKS);
  const shared = part.top(`${root}shared.weight`);
  part.tops(
    ['encoder.', 'decoder.'].flatMap((s) => [
      `${root}${s}embed_tokens.weight`,
      `${root}${s}final_layer_norm.weight`,
    ]),
  );
  const head = part.top(`${root}lm_head.weight`);
  const embed = shared ?? facts.shapes.get(`${root}encoder.embed_tokens.weight`);
  part.note(
    'names',
    `encoder.block.N and decoder.block.N with SelfAttention/EncDecAttention: T5 encoder-decoder`,
  );
  layersOf(part, enc);
  part.note('names', `${dec.layerMax + 1} decoder blocks ${root}decoder.block.0–${dec.layerMax}`);
  const q = enc.rests.get(SELF_Q);
  part.set('hiddenSize', axis(embed, 1) ?? colsOf(q), 'no shared embedding or SelfAttention.q');
  part.set('vocabSize', axis(embed, 0) ?? axis(head, 0), 'no shared embedding or lm_head');
  const ff =
    enc.rests.get('layer.1.DenseReluDense.wi.weight') ??
    enc.rests.get('layer.1.DenseReluDense.wi_0.weight');
  part.set('intermediateSize', rowsOf(ff), 'no DenseReluDense.wi rows');
  part.set('numExperts', 0, '');
  part.set('tiedEmbeddings', head === undefined, '');
  part.note(
    'names',
    head === undefined
      ? 'no lm_head.weight: the output head shares shared.weight'
      : 'separate lm_head.weight',
  );
  // relative_attention_bias is [buckets, heads]: the head count, then head_dim = q rows / heads.
  const bias = enc.rests.get('layer.0.SelfAttention.relative_attention_bias.weight');
  const heads = axis(bias?.shape, 1);
  const qRows = rowsOf(q);
  if (heads !== null && qRows !== null && qRows % heads === 0) {
    part.note('shapes', `relative_attention_bias ${shapeText(bias?.shape)}: ${heads} heads`);
    headsFrom(part, qRows / heads, qRows, rowsOf(enc.rests.get('layer.0.SelfAttention.k.weight')));
  } else
    headsUnknown(part, 'no relative_attention_bias [buckets, heads] to read the head count from');
  const cfg = textConfig(facts);
  if (cfg !== null) {
    const mt = modelType(cfg);
    if (mt !== null && mt !== 't5')
      part.note('config', `config model_type ${mt}, but the tensor names are T5’s`);
    applyConfig(part, standardConfigDims(cfg));
    checkRows(part, 'SelfAttention.q', qRows, part.dims.numAttentionHeads);
  }
  return part.finish('t5', null, 'encoder-decoder', root);
}

/** Only full encoder-decoders: encoder-only T5 files (diffusion text encoders) are another recogniser's. */
export const t5Recognizer: Recognizer = {
  id: 'llm-t5',
  recognize(facts) {
    try {
      const out: ArchitectureComponent[] = [];
      for (const enc of groupsWith(facts, 'block', [SELF_Q])) {
        const root = stripTail(enc.pre, ['encoder.']);
        if (root === enc.pre) continue;
        const dec = groupAt(facts, `${root}decoder.`, 'block');
        if (dec === undefined || !dec.rests.has(SELF_Q)) continue;
        out.push(recognizeT5(facts, enc, dec, root));
      }
      return out;
    } catch {
      return [];
    }
  },
};
