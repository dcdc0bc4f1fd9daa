import type { Recognizer } from '../recognizer.js';
import type { ArchitectureComponent, ModelFacts } from '../types.js';
import {
  applyConfig,
  checkRows,
  intOf,
  modelType,
  standardConfigDims,
  textConfig,
} from './config.js';
import { axis, groupsWith, keys, stripTail, type BlockGroup } from './llmShapes.js';
import {
  colsOf,
  headsFrom,
  headsUnknown,
  layersOf,
  noteGqa,
  Part,
  rowsOf,
  shapeText,
} from './part.js';

/**
 * The `model.layers.N.self_attn.*_proj` families: Llama, Mistral, Mixtral, Qwen2/2.5, Qwen3, Gemma 1/2/3,
 * Phi-2 and Phi-3. They share one layout and differ in a few tensors, so one recogniser tells them apart.
 */

const BLOCK_VOCAB: ReadonlySet<string> = new Set([
  ...keys([
    'self_attn.q_proj',
    'self_attn.k_proj',
    'self_attn.v_proj',
    'self_attn.o_proj',
    'self_attn.dense',
  ]),
  ...keys([
    'mlp.gate_proj',
    'mlp.up_proj',
    'mlp.down_proj',
    'mlp.fc1',
    'mlp.fc2',
    'input_layernorm',
  ]),
  ...keys(['self_attn.qkv_proj', 'mlp.gate_up_proj']),
  'self_attn.q_norm.weight',
  'self_attn.k_norm.weight',
  'self_attn.rotary_emb.inv_freq',
  'post_attention_layernorm.weight',
  'pre_feedforward_layernorm.weight',
  'post_feedforward_layernorm.weight',
  'block_sparse_moe.gate.weight',
  'block_sparse_moe.experts.*.w1.weight',
  'block_sparse_moe.experts.*.w2.weight',
  'block_sparse_moe.experts.*.w3.weight',
  'mlp.gate.weight',
  'mlp.experts.gate_up_proj',
  'mlp.experts.down_proj',
]);

const CONFIG_FAMILY: Readonly<Record<string, string>> = {
  llama: 'llama',
  mistral: 'mistral',
  mixtral: 'mixtral',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
  gemma: 'gemma',
  gemma2: 'gemma2',
  gemma3: 'gemma3',
  gemma3_text: 'gemma3',
  phi: 'phi',
  phi3: 'phi3',
};

interface Layout {
  readonly family: string;
  readonly why: string;
}

function has(g: BlockGroup, rest: string): boolean {
  return g.rests.has(rest);
}

/** The family the tensor names alone say, with the sentence that says why. */
function layoutOf(g: BlockGroup, vocab: number | null, tied: boolean): Layout {
  if (has(g, 'block_sparse_moe.gate.weight') || has(g, 'mlp.experts.gate_up_proj')) {
    return {
      family: 'mixtral',
      why: 'per-layer expert router and experts: Mixtral mixture-of-experts',
    };
  }
  if (has(g, 'self_attn.qkv_proj.weight') && has(g, 'mlp.gate_up_proj.weight')) {
    return { family: 'phi3', why: 'fused self_attn.qkv_proj and mlp.gate_up_proj: Phi-3' };
  }
  if (has(g, 'self_attn.dense.weight') && has(g, 'mlp.fc1.weight')) {
    return { family: 'phi', why: 'self_attn.dense with mlp.fc1/fc2 and final_layernorm: Phi-2' };
  }
  const qNorm = has(g, 'self_attn.q_norm.weight');
  const preFf = has(g, 'pre_feedforward_layernorm.weight');
  if (qNorm && preFf)
    return { family: 'gemma3', why: 'q_norm/k_norm with pre/post feed-forward norms: Gemma 3' };
  if (qNorm)
    return { family: 'qwen3', why: 'q_norm/k_norm without pre_feedforward_layernorm: Qwen3' };
  if (preFf)
    return { family: 'gemma2', why: 'pre/post feed-forward norms without q_norm: Gemma 2' };
  if (has(g, 'self_attn.q_proj.bias') && !has(g, 'self_attn.o_proj.bias')) {
    return { family: 'qwen2', why: 'q/k/v_proj biases without an o_proj bias: Qwen2/2.5' };
  }
  if (vocab === 256000 && tied) {
    return {
      family: 'gemma',
      why: 'Llama tensor names with a 256000-token tied embedding: Gemma 1',
    };
  }
  return {
    family: 'llama',
    why: 'Llama tensor names (q/k/v/o_proj, gate/up/down_proj, RMS norms)',
  };
}

function llamaVariant(part: Part, facts: ModelFacts, vocab: number | null): string | null {
  const cfg = textConfig(facts);
  const scaling = cfg?.['rope_scaling'];
  const ropeType =
    scaling !== null && typeof scaling === 'object'
      ? (scaling as Record<string, unknown>)['rope_type']
      : undefined;
  if (vocab === 128256 || ropeType === 'llama3') {
    part.note('shapes', 'vocab 128256 (or rope_type llama3): Llama 3');
    return 'Llama 3';
  }
  if (vocab === 32000) {
    const ctx = intOf(cfg, 'max_position_embeddings');
    if (cfg !== null && modelType(cfg) === 'llama' && ctx?.value === 4096) {
      part.note('config', 'vocab 32000 with max_position_embeddings 4096: Llama 2');
      return 'Llama 2';
    }
    if (cfg !== null && modelType(cfg) === 'llama' && ctx?.value === 2048) {
      part.note('config', 'vocab 32000 with max_position_embeddings 2048: Llama 1');
      return 'Llama 1';
    }
    part.note(
      'shapes',
      'vocab 32000: Llama 1 or 2 (or Mistral, whose names are the same); config.json would tell',
    );
  }
  return null;
}

function variantOf(
  family: string,
  part: Part,
  facts: ModelFacts,
  vocab: number | null,
): string | null {
  if (family === 'llama') return llamaVariant(part, facts, vocab);
  if (family === 'gemma2') return 'Gemma 2';
  if (family === 'gemma3') return 'Gemma 3';
  return null;
}

function recognizeGroup(facts: ModelFacts, g: BlockGroup): ArchitectureComponent {
  const part = new Part(facts);
  const inner = g.pre;
  const root = stripTail(inner, ['model.']);
  part.claimBlocks(g, BLOCK_VOCAB);
  const embed = part.top(`${inner}embed_tokens.weight`);
  part.tops([
    `${inner}norm.weight`,
    ...keys([`${inner}final_layernorm`]),
    `${inner}rotary_emb.inv_freq`,
  ]);
  const head = part.top(`${root}lm_head.weight`);
  part.top(`${root}lm_head.bias`);
  layersOf(part, g);

  const r = (k: string) => g.rests.get(k);
  const q = r('self_attn.q_proj.weight');
  const k = r('self_attn.k_proj.weight');
  const qkv = r('self_attn.qkv_proj.weight');
  const hidden = axis(embed, 1) ?? colsOf(q) ?? colsOf(qkv);
  const vocab = axis(embed, 0) ?? axis(head, 0);
  part.set('hiddenSize', hidden, 'no embed_tokens or q_proj to read the width from');
  part.set('vocabSize', vocab, 'no embed_tokens or lm_head to read the vocabulary from');
  if (embed)
    part.note(
      'shapes',
      `embed_tokens ${shapeText(embed)}: vocab ${vocab ?? '?'}, hidden ${hidden ?? '?'}`,
    );
  const tied = head === undefined;
  part.set('tiedEmbeddings', tied, '');
  part.note(
    'names',
    tied ? 'no lm_head.weight: the output head shares embed_tokens' : 'separate lm_head.weight',
  );

  const layout = layoutOf(g, vocab, tied);
  part.note('names', layout.why);

  // Feed-forward width and experts.
  const fused = r('mlp.experts.gate_up_proj');
  const gateUp = rowsOf(r('mlp.gate_up_proj.weight'));
  const w1 = rowsOf(r('block_sparse_moe.experts.*.w1.weight'));
  const fusedRows = axis(fused?.shape, 1);
  const inter =
    rowsOf(r('mlp.gate_proj.weight')) ??
    rowsOf(r('mlp.up_proj.weight')) ??
    rowsOf(r('mlp.fc1.weight')) ??
    w1 ??
    (gateUp !== null && gateUp % 2 === 0 ? gateUp / 2 : null) ??
    (fusedRows !== null && fusedRows % 2 === 0 ? fusedRows / 2 : null);
  part.set(
    'intermediateSize',
    inter,
    'no gate/up/fc1 projection to read the feed-forward width from',
  );
  const experts =
    axis(fused?.shape, 0) ??
    (g.expertMax >= 0 ? g.expertMax + 1 : null) ??
    rowsOf(r('block_sparse_moe.gate.weight')) ??
    rowsOf(r('mlp.gate.weight'));
  part.set('numExperts', experts ?? 0, '');
  if (experts !== null)
    part.note('shapes', `${experts} experts per layer, feed-forward width ${inter ?? '?'}`);

  // Heads need the head width, which only q_norm or a saved rotary inv_freq gives.
  const qRows = rowsOf(q);
  const kRows = rowsOf(k);
  noteGqa(part, 'q_proj', qRows, 'k_proj', kRows);
  const qNorm = axis(r('self_attn.q_norm.weight')?.shape, 0);
  const invFreq = axis(r('self_attn.rotary_emb.inv_freq')?.shape, 0);
  const partialRotary = layout.family === 'phi';
  if (qNorm !== null) {
    part.note('shapes', `q_norm width ${qNorm}: head_dim ${qNorm}`);
    headsFrom(part, qNorm, qRows, kRows);
  } else if (invFreq !== null && !partialRotary) {
    part.note('shapes', `rotary inv_freq length ${invFreq}: head_dim ${invFreq * 2}`);
    headsFrom(part, invFreq * 2, qRows, kRows);
  } else {
    const width =
      qRows !== null
        ? `q_proj ${qRows} rows`
        : qkv
          ? `qkv_proj ${rowsOf(qkv) ?? '?'} rows`
          : 'q width';
    headsUnknown(
      part,
      `no config, q_norm or saved rotary inv_freq: ${width} = heads × head_dim, split unknown`,
    );
  }

  let family = layout.family;
  const cfg = textConfig(facts);
  if (cfg !== null) {
    const mt = modelType(cfg);
    const said = mt === null ? undefined : CONFIG_FAMILY[mt];
    if (said === 'mistral' && family === 'llama') {
      family = 'mistral';
      part.note('config', 'config model_type mistral: Mistral (its tensor names are Llama’s)');
    } else if (said !== undefined && said !== family) {
      if (family === 'llama') family = said;
      part.note(
        'config',
        `config model_type ${mt ?? '?'} (the tensor names alone say ${layout.family})`,
      );
    } else if (mt !== null && said === undefined) {
      part.note(
        'config',
        `config model_type ${mt}: not a family LoRA Lens names; the tensor names match ${family}`,
      );
    }
    applyConfig(part, standardConfigDims(cfg));
    checkRows(part, 'q_proj', qRows, part.dims.numAttentionHeads);
    checkRows(part, 'k_proj', kRows, part.dims.numKeyValueHeads);
  }
  const variant = variantOf(family, part, facts, vocab);
  return part.finish(family, variant, 'causal-lm', root);
}

export const llamaLikeRecognizer: Recognizer = {
  id: 'llm-llama-like',
  recognize(facts) {
    try {
      const out: ArchitectureComponent[] = [];
      const seen = new Set<BlockGroup>();
      for (const need of [
        ['self_attn.q_proj.weight', 'self_attn.o_proj.weight', 'input_layernorm.weight'],
        ['self_attn.qkv_proj.weight', 'self_attn.o_proj.weight', 'input_layernorm.weight'],
        ['self_attn.q_proj.weight', 'self_attn.dense.weight', 'mlp.fc1.weight'],
      ]) {
        for (const g of groupsWith(facts, 'layers', need)) {
          if (seen.has(g)) continue;
          seen.add(g);
          out.push(recognizeGroup(facts, g));
        }
      }
      return out;
    } catch {
      return [];
    }
  },
};
