import type { TensorInfo } from '../formats/checkpoint.js';
import type { Algorithm, RawModule } from './moduleGrouping.js';
import type { LoraFamily, LoraModule, LoraModuleKind, LoraOrientation } from './types.js';

/** What the shapes say about one module. `problems` become shape-mismatch warnings. */
export interface ShapeFacts {
  readonly kind: LoraModuleKind;
  readonly label: string;
  readonly rank: number | null;
  readonly orientation: LoraOrientation | null;
  readonly inFeatures: number | null;
  readonly outFeatures: number | null;
  readonly kernel?: number[];
  readonly dora?: LoraModule['dora'];
  readonly problems: string[];
}

const TRANSPOSED_FAMILIES: ReadonlySet<LoraFamily> = new Set(['mlx', 'onnx']);
const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
const at = (shape: readonly number[] | undefined, i: number): number | null => shape?.[i] ?? null;
const product = (ns: readonly (number | null)[]): number | null =>
  ns.every((n): n is number => n !== null) ? ns.reduce((a, b) => a * b, 1) : null;

export function describeShapes(m: RawModule, algorithm: Algorithm, family: LoraFamily): ShapeFacts {
  const part = (p: string): TensorInfo | undefined => m.parts.get(p);
  switch (algorithm) {
    case 'lora':
      return withDora(m, lowRank(m, family));
    case 'loha':
      return withDora(m, loha(part));
    case 'lokr':
      return withDora(m, lokr(part));
    case 'ia3':
      return ia3(part);
    case 'oft':
    case 'boft':
      return oft(part, algorithm);
    case 'full':
      return full(part);
    case 'norm': {
      const n = at((part('w_norm') ?? part('b_norm'))?.shape, 0);
      return base('norm', 'norm diff', null, null, n, n);
    }
  }
}

function base(
  kind: LoraModuleKind,
  label: string,
  rank: number | null,
  orientation: LoraOrientation | null,
  inFeatures: number | null,
  outFeatures: number | null,
  extra: Partial<Pick<ShapeFacts, 'kernel' | 'problems'>> = {},
): ShapeFacts {
  return { kind, label, rank, orientation, inFeatures, outFeatures, problems: [], ...extra };
}

function kernelText(kernel: readonly number[]): string {
  return kernel.join('×');
}

/** A/B (down/up) pairs: PEFT, kohya, diffusers, BFL, GGUF (standard); MLX, ONNX (transposed). */
function lowRank(m: RawModule, family: LoraFamily): ShapeFacts {
  const down = (m.parts.get('down') ?? m.parts.get('down.0'))?.shape ?? [];
  const up = (m.parts.get('up') ?? m.parts.get('up.0'))?.shape ?? [];
  const mid = m.parts.get('mid')?.shape;
  const problems: string[] = [];
  const standard = down.length >= 2 && up.length >= 2 && down[0] === up[1];
  const transposed = down.length === 2 && up.length === 2 && down[1] === up[0];
  const expected: LoraOrientation = TRANSPOSED_FAMILIES.has(family) ? 'transposed' : 'standard';
  let orientation: LoraOrientation | null = null;
  if (expected === 'standard')
    orientation = standard ? 'standard' : transposed ? 'transposed' : null;
  else orientation = transposed ? 'transposed' : standard ? 'standard' : null;
  if (orientation === null) {
    problems.push(`down ${fmt(down)} and up ${fmt(up)} do not share a rank`);
  } else if (orientation !== expected && family !== 'gguf' && family !== 'onnx') {
    // llama.cpp flips token_embd on purpose, ONNX exporters differ; elsewhere a flipped pair is worth a look.
    problems.push(
      `down ${fmt(down)} / up ${fmt(up)} are ${orientation}, the family stores ${expected}`,
    );
  }
  const rank =
    orientation === 'standard' ? at(down, 0) : orientation === 'transposed' ? at(down, 1) : null;
  const useTransposed = (orientation ?? expected) === 'transposed';
  const inFeatures = useTransposed ? at(down, 0) : at(down, 1);
  const outFeatures = useTransposed ? at(up, 1) : at(up, 0);

  const bias = m.parts.get('up_bias');
  if (bias && outFeatures !== null && at(bias.shape, 0) !== outFeatures)
    problems.push(`up bias ${fmt(bias.shape)} does not match ${outFeatures} outputs`);
  if (mid && rank !== null && (mid[0] !== rank || mid[1] !== rank))
    problems.push(`lora_mid ${fmt(mid)} does not match rank ${rank}`);

  if (m.styles.has('peft-embedding'))
    return base('embedding', 'embedding', rank, orientation, inFeatures, outFeatures, { problems });
  if (m.parts.has('lora_E'))
    return base('adalora', 'AdaLoRA linear', rank, orientation, inFeatures, outFeatures, {
      problems,
    });
  const kernelSource = mid ?? down;
  if (kernelSource.length >= 3) {
    const kernel = kernelSource.slice(2);
    const label = `conv ${kernelText(kernel)}${mid ? ' (Tucker)' : ''}`;
    return base('conv', label, rank, orientation, inFeatures, outFeatures, { kernel, problems });
  }
  const split = [...m.parts.keys()].filter((p) => p.startsWith('down.')).length;
  const label = split > 1 ? `linear (split ×${split})` : 'linear';
  return base('linear', label, rank, orientation, inFeatures, outFeatures, { problems });
}

/** LoHa: (w1_a @ w1_b) ⊙ (w2_a @ w2_b); Tucker stores w1_a as [r, out] beside t1 [r, r, k, k]. */
function loha(part: (p: string) => TensorInfo | undefined): ShapeFacts {
  const w1a = part('hada_w1_a')?.shape ?? [];
  const w1b = part('hada_w1_b')?.shape ?? [];
  const w2a = part('hada_w2_a')?.shape ?? [];
  const w2b = part('hada_w2_b')?.shape ?? [];
  const t1 = part('hada_t1')?.shape;
  const problems: string[] = [];
  if (fmt(w1a) !== fmt(w2a) || fmt(w1b) !== fmt(w2b))
    problems.push(`hada_w1 ${fmt(w1a)}·${fmt(w1b)} and hada_w2 ${fmt(w2a)}·${fmt(w2b)} differ`);
  const rank = at(w1b, 0);
  const outFeatures = t1 ? at(w1a, 1) : at(w1a, 0);
  const kernel = t1 && t1.length >= 3 ? t1.slice(2) : undefined;
  const label = kernel ? `LoHa conv ${kernelText(kernel)}` : 'LoHa';
  return base('loha', label, rank, null, at(w1b, 1), outFeatures, {
    problems,
    ...(kernel ? { kernel } : {}),
  });
}

/**
 * LoKr: kron(w1, w2), each factor full or a low-rank pair. The rank (LyCORIS "dim") is that of the
 * factorised factor, w2 first, as ComfyUI reads it; both full ⇒ no rank.
 */
function lokr(part: (p: string) => TensorInfo | undefined): ShapeFacts {
  const w1 = part('lokr_w1')?.shape;
  const w1a = part('lokr_w1_a')?.shape;
  const w1b = part('lokr_w1_b')?.shape;
  const w2 = part('lokr_w2')?.shape;
  const w2a = part('lokr_w2_a')?.shape;
  const w2b = part('lokr_w2_b')?.shape;
  const t2 = part('lokr_t2')?.shape;
  const out1 = w1 ? at(w1, 0) : at(w1a, 0);
  const in1 = w1 ? at(w1, 1) : at(w1b, 1);
  const out2 = w2 ? at(w2, 0) : t2 ? at(w2a, 1) : at(w2a, 0);
  const in2 = w2 ? at(w2, 1) : at(w2b, 1);
  const rank = !w2 ? at(w2b, 0) : !w1 ? at(w1b, 0) : null;
  const kernelSource = t2 ?? w2;
  const kernel = kernelSource && kernelSource.length >= 3 ? kernelSource.slice(2) : undefined;
  const label = kernel ? `LoKr conv ${kernelText(kernel)}` : 'LoKr';
  return base('lokr', label, rank, null, product([in1, in2]), product([out1, out2]), {
    ...(kernel ? { kernel } : {}),
  });
}

/** (IA)³: PEFT ia3_l is [out, 1] (scales outputs) or [1, in] (feed-forward inputs). */
function ia3(part: (p: string) => TensorInfo | undefined): ShapeFacts {
  const peft = part('ia3_l')?.shape;
  if (peft) {
    const onInput = peft.length === 2 && peft[0] === 1;
    return onInput
      ? base('ia3', '(IA)³ on input', null, null, at(peft, 1), null)
      : base('ia3', '(IA)³', null, null, null, at(peft, 0));
  }
  // LyCORIS keeps on_input as a value in a tensor: the side is not known from the header.
  const n = at(part('weight')?.shape, 0);
  return base('ia3', `(IA)³ (${n ?? '?'} features)`, null, null, null, null);
}

function oft(part: (p: string) => TensorInfo | undefined, algorithm: 'oft' | 'boft'): ShapeFacts {
  const blocks = part('oft_blocks')?.shape;
  if (blocks && blocks.length >= 3) {
    const n = blocks.length === 4 ? at(blocks, 1) : at(blocks, 0);
    const size = at(blocks, blocks.length - 1);
    const features = product([n, size]);
    const label = `${algorithm === 'boft' ? 'BOFT' : 'OFT'} (${n ?? '?'} blocks of ${size ?? '?'})`;
    return base(algorithm, label, null, null, features, features);
  }
  return base(algorithm, algorithm === 'boft' ? 'BOFT' : 'OFT', null, null, null, null);
}

/** LyCORIS full / diff: the delta itself has the base weight's shape. */
function full(part: (p: string) => TensorInfo | undefined): ShapeFacts {
  const diff = (part('diff') ?? part('set_weight'))?.shape;
  const bias = part('diff_b')?.shape;
  const kernel = diff && diff.length >= 3 ? diff.slice(2) : undefined;
  const label = part('set_weight')
    ? 'full (set weight)'
    : kernel
      ? `full diff conv ${kernelText(kernel)}`
      : 'full diff';
  return base('full', label, null, null, at(diff, 1), at(diff, 0) ?? at(bias, 0), {
    ...(kernel ? { kernel } : {}),
  });
}

/** DoRA magnitudes are part of their module: PEFT per output row, kohya/LyCORIS per column or row. */
function withDora(m: RawModule, facts: ShapeFacts): ShapeFacts {
  const magnitude = m.parts.get('magnitude');
  const doraScale = m.parts.get('dora_scale');
  const t = magnitude ?? doraScale;
  if (!t) return facts;
  const problems = [...facts.problems];
  const numel = t.shape.reduce((a, b) => a * b, 1);
  let axis: 'out' | 'in' | 'unknown' = 'unknown';
  if (magnitude) {
    axis = 'out';
    if (facts.outFeatures !== null && numel !== facts.outFeatures)
      problems.push(`magnitude ${fmt(t.shape)} does not match ${facts.outFeatures} outputs`);
  } else if (t.shape.length >= 2 && t.shape[0] === 1) {
    axis = 'in';
  } else if (t.shape.length >= 2 && t.shape[1] === 1) {
    axis = 'out';
  }
  return { ...facts, label: `DoRA ${facts.label}`, dora: { tensor: t.name, axis }, problems };
}
