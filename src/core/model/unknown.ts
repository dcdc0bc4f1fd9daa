import { EMPTY_DIMS, type ArchitectureComponent, type Evidence, type ModelFacts } from './types.js';

const NORM = /(^|[._])(norm|ln|layernorm|layer_norm|ln_\d|rms_norm)[\w]*\.weight$/i;
const EMBED =
  /(^|\.)(embed_tokens|wte|word_embeddings|token_embd|tok_embeddings|embed_in|shared)\.weight$/;

interface BlockGroup {
  readonly prefix: string;
  readonly indices: Set<number>;
  tensors: number;
}

const UNDETERMINED = 'the family is unknown: not determined from names and shapes alone';

/**
 * A model no recogniser claims: "unknown", with the figures that names and shapes do determine.
 * The layer count is the largest repeated block (`<prefix>.<i>.`); the width is the one norm width
 * shared by every block (a norm weight is as wide as the residual stream); the vocabulary is the row
 * count of a known embedding name whose other side is that width. Nothing else is guessed.
 */
export function unknownComponent(
  facts: ModelFacts,
  tensors: readonly { readonly name: string; readonly shape: readonly number[] }[],
): ArchitectureComponent {
  const groups = new Map<string, BlockGroup>();
  let parameterCount = 0;
  for (const t of tensors) {
    let n = 1;
    for (const d of t.shape) n *= d;
    parameterCount += n;
    const m = /^(.*?)\.(\d{1,6})\./.exec(t.name);
    if (!m) continue;
    const prefix = m[1] ?? '';
    const g = groups.get(prefix) ?? { prefix, indices: new Set<number>(), tensors: 0 };
    g.indices.add(Number(m[2]));
    g.tensors++;
    groups.set(prefix, g);
  }
  let best: BlockGroup | undefined;
  for (const g of groups.values()) if (!best || g.tensors > best.tensors) best = g;

  const evidence: Evidence[] = [];
  const undetermined: Record<string, string> = {};
  let numLayers: number | null = null;
  let hiddenSize: number | null = null;
  let vocabSize: number | null = null;
  if (best && best.indices.size >= 2) {
    numLayers = best.indices.size;
    let max = 0;
    for (const i of best.indices) if (i > max) max = i; // no spread: a hostile file has 1M indices
    evidence.push({
      source: 'names',
      claim: `${numLayers} repeated blocks ${best.prefix}.0–${max}${max + 1 !== numLayers ? ' (with gaps)' : ''}`,
    });
    const widths = new Set<number>();
    const blockStart = `${best.prefix}.`;
    for (const t of tensors)
      if (t.name.startsWith(blockStart) && t.shape.length === 1 && NORM.test(t.name))
        widths.add(t.shape[0] ?? 0);
    if (widths.size === 1) {
      hiddenSize = [...widths][0] ?? null;
      evidence.push({ source: 'shapes', claim: `every norm in the blocks is ${hiddenSize} wide` });
    } else
      undetermined['hiddenSize'] =
        widths.size === 0
          ? 'no norm weights in the blocks to read the width from'
          : `the block norms have ${widths.size} different widths`;
  } else {
    undetermined['numLayers'] = 'no repeated numbered blocks';
    undetermined['hiddenSize'] = 'no repeated numbered blocks to read the width from';
  }
  if (hiddenSize !== null)
    for (const t of tensors)
      if (t.shape.length === 2 && t.shape[1] === hiddenSize && EMBED.test(t.name)) {
        vocabSize = t.shape[0] ?? null;
        evidence.push({ source: 'shapes', claim: `${t.name} has ${vocabSize} rows` });
        break;
      }
  if (vocabSize === null) undetermined['vocabSize'] = 'no embedding matrix of the model width';
  for (const k of [
    'numAttentionHeads',
    'numKeyValueHeads',
    'headDim',
    'intermediateSize',
    'numExperts',
    'tiedEmbeddings',
  ])
    undetermined[k] = UNDETERMINED;
  if (facts.config && typeof facts.config['model_type'] === 'string')
    evidence.push({
      source: 'config',
      claim: `config.json says model_type "${facts.config['model_type']}", which LoRA Lens does not know`,
    });
  return {
    family: 'unknown',
    variant: null,
    kind: 'unknown',
    prefix: '',
    evidence,
    dims: { ...EMPTY_DIMS, numLayers, hiddenSize, vocabSize },
    undetermined,
    tensorCount: tensors.length,
    parameterCount,
  };
}
