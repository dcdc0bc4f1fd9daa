import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, ModelFacts, ModelKind } from '../types.js';
import { axis, numel } from './llmShapes.js';
import { Part, shapeText, type DimKey } from './part.js';

/**
 * GGUF LLMs (llama.cpp names: token_embd, blk.N.attn_q, output): the figures are in the KV metadata,
 * `general.architecture` and `<arch>.block_count` etc.; the shapes (PyTorch order) check them.
 */

const ARCH_FAMILY: Readonly<Record<string, string>> = {
  llama: 'llama',
  mistral: 'mistral',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
  gemma: 'gemma',
  gemma2: 'gemma2',
  gemma3: 'gemma3',
  phi2: 'phi',
  phi3: 'phi3',
  gpt2: 'gpt2',
  gptneox: 'gpt_neox',
  falcon: 'falcon',
  bert: 'bert',
  t5: 't5',
};
const TOPS = [
  'token_embd.',
  'output.',
  'output_norm.',
  'rope_freqs.',
  'position_embd.',
  'token_types.',
  'token_embd_norm.',
];

function kvInt(meta: Readonly<Record<string, string>>, key: string): number | null {
  const raw = meta[key];
  if (raw === undefined) return null;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

function recognizeGguf(
  facts: ModelFacts,
  arch: string,
  family0: string,
): ArchitectureComponent | null {
  const meta = facts.metadata;
  let count = 0;
  let params = 0;
  let blockMax = -1;
  for (const t of facts.tensors) {
    const n = t.name;
    if (n.startsWith('blk.')) {
      const dot = n.indexOf('.', 4);
      const idx = dot > 4 ? Number(n.slice(4, dot)) : NaN;
      if (!Number.isInteger(idx)) continue;
      if (idx > blockMax) blockMax = idx;
    } else if (!TOPS.some((p) => n.startsWith(p))) continue;
    count++;
    params += Array.isArray(t.shape) ? numel(t.shape) : 0;
  }
  if (count === 0) return null;
  const part = new Part(facts);
  part.note('gguf', `general.architecture ${arch}`);
  const name = (meta['general.name'] ?? '').toLowerCase();
  const experts = kvInt(meta, `${arch}.expert_count`) ?? 0;
  let family = family0;
  if (family === 'llama' && (experts > 0 || name.includes('mixtral'))) family = 'mixtral';
  else if (family === 'llama' && name.includes('mistral')) family = 'mistral';
  if (family !== family0)
    part.note(
      'gguf',
      `general.name ${meta['general.name'] ?? ''} with ${experts} experts: ${family}`,
    );

  const embed = facts.shapes.get('token_embd.weight');
  const hidden = kvInt(meta, `${arch}.embedding_length`);
  const heads = kvInt(meta, `${arch}.attention.head_count`);
  const kv = kvInt(meta, `${arch}.attention.head_count_kv`) ?? heads;
  const keyLen = kvInt(meta, `${arch}.attention.key_length`);
  const headDim =
    keyLen ?? (hidden !== null && heads ? (hidden % heads === 0 ? hidden / heads : null) : null);
  const set = (k: DimKey, v: number | null, key: string) =>
    part.set(k, v, `no ${key} in the GGUF metadata`);
  set('hiddenSize', hidden ?? axis(embed, 1), `${arch}.embedding_length`);
  set(
    'numLayers',
    kvInt(meta, `${arch}.block_count`) ?? (blockMax >= 0 ? blockMax + 1 : null),
    `${arch}.block_count`,
  );
  set('numAttentionHeads', heads, `${arch}.attention.head_count`);
  set('numKeyValueHeads', kv, `${arch}.attention.head_count_kv`);
  set('headDim', headDim, `${arch}.attention.key_length`);
  set(
    'intermediateSize',
    kvInt(meta, `${arch}.feed_forward_length`),
    `${arch}.feed_forward_length`,
  );
  set('vocabSize', axis(embed, 0) ?? kvInt(meta, `${arch}.vocab_size`), 'token_embd.weight');
  part.set('numExperts', experts, '');
  const tied = !facts.shapes.has('output.weight');
  part.set('tiedEmbeddings', tied, '');
  part.note(
    'gguf',
    `${arch}.block_count ${part.dims.numLayers ?? '?'}, head_count ${heads ?? '?'}, head_count_kv ${kv ?? '?'}`,
  );
  if (blockMax >= 0) part.note('names', `${blockMax + 1} blocks blk.0–${blockMax}`);
  if (embed) {
    const cols = axis(embed, 1);
    if (hidden !== null && cols !== null && cols !== hidden) {
      part.note('shapes', `token_embd ${shapeText(embed)} but ${arch}.embedding_length ${hidden}`);
    } else part.note('shapes', `token_embd ${shapeText(embed)}`);
  }
  part.note(
    'names',
    tied ? 'no output.weight: the output head shares token_embd' : 'separate output.weight',
  );
  const kind: ModelKind =
    family === 't5' ? 'encoder-decoder' : family === 'bert' ? 'encoder' : 'causal-lm';
  const c = part.finish(family, null, kind, '');
  return { ...c, tensorCount: count, parameterCount: params };
}

export const ggufLlmRecognizer: Recognizer = {
  id: 'llm-gguf',
  recognize(facts) {
    try {
      const arch = facts.metadata['general.architecture'];
      if (arch === undefined) return [];
      const family = ARCH_FAMILY[arch];
      if (family === undefined) return [];
      const c = recognizeGguf(facts, arch, family);
      return c === null ? [] : [c];
    } catch {
      return [];
    }
  },
};
