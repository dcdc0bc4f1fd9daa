/**
 * BOFT: a product of butterfly-permuted block-diagonal rotations of the input, with a per-output
 * scale (PEFT `boft_R` [m, n, b, b] + `boft_s` [out, 1], [1, out] on convs; LyCORIS `oft_blocks`
 * [m, n, b, b], which rotates the outputs and has no effect here yet).
 *
 * PEFT (tuners/boft/layer.py): R = (I − S)(I + S)⁻¹ with S = ½(B − Bᵀ) per block; factor i is
 * Mᵢ = Pᵢ·blockdiag(Rᵢ)·Pᵢᵀ with Pᵢ the non-persistent `boft_P` buffer (never saved; rebuilt from the
 * block sizes here exactly as block_butterfly_perm builds it); the rotation is B = M_{m−1}···M₀ and
 * the merge W′ = diag(boft_s)·W·Bᵀ = diag(boft_s)·W·M₀ᵀ·M₁ᵀ···, one 'blocks' stage per factor.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { RawModule } from '../moduleGrouping.js';
import type { LoraModule } from '../types.js';
import { lycorisBlocksFacts, lycorisRefusal } from './oft.js';
import { cayleyExact, configNumber, skewPart, transposeSquare } from './rotations.js';
import { at, facts, fmt, partOf, product } from './shapeHelpers.js';
import type {
  AdapterMethod,
  DescribeContext,
  EffectInputs,
  MethodFacts,
  ModuleEffect,
  TransformStage,
} from './types.js';

const bad = (m: LoraModule, why: string): CheckpointError =>
  new CheckpointError('InvalidExport', `${m.name}: ${why}`, m.name);

/** Why [factors, blocks, b, b] cannot be a PEFT butterfly, or null. */
function butterflyProblem(shape: readonly number[]): string | null {
  const [m = 0, n = 0, b = 0, b2 = -1] = shape;
  if (shape.length !== 4 || b !== b2 || m < 1 || n < 1 || b < 1)
    return `boft_R ${fmt(shape)} is not [factors, blocks, b, b]`;
  if (m === 1) return null;
  // BOFTLayer.update_layer's own checks for a butterfly factor above 1.
  if (n % 2 ** (m - 1) !== 0 || n % 2 !== 0 || b % 2 !== 0)
    return `boft_R ${fmt(shape)}: ${m} butterfly factors need an even block size and a block count divisible by ${2 ** (m - 1)}`;
  return null;
}

/**
 * BOFTLayer.block_butterfly_perm(n, b, r, factor > 0): inside each group of n/b features, the r-wide
 * chunks are reordered evens first, then odds. Returns perm with P[j, perm[j]] = 1 (perm2mat).
 */
export function butterflyPerm(n: number, blocks: number, r: number): Int32Array {
  const group = n / blocks;
  const step = group / r;
  const chunks: number[] = [];
  for (let c = 0; c < step; c += 2) chunks.push(c);
  for (let c = 1; c < step; c += 2) chunks.push(c);
  const order: number[] = [];
  for (const c of chunks) for (let t = 0; t < r; t++) order.push(c * r + t);
  const perm = new Int32Array(n);
  for (let g = 0; g < n; g += group)
    for (let t = 0; t < group; t++) perm[g + t] = g + (order[t] as number);
  return perm;
}

function inverse(perm: Int32Array): Int32Array {
  const inv = new Int32Array(perm.length);
  for (let j = 0; j < perm.length; j++) inv[perm[j] as number] = j;
  return inv;
}

function peftFacts(m: RawModule, ctx: DescribeContext): MethodFacts {
  const part = partOf(m);
  const shape = part('boft_R')?.shape ?? [];
  const sShape = part('boft_s')?.shape;
  const problems: string[] = [];
  const shapeProblem = butterflyProblem(shape);
  if (shapeProblem) problems.push(shapeProblem);
  const [factors, n, b] = [at(shape, 0), at(shape, 1), at(shape, 2)];
  const out = sShape ? product(sShape) : null;
  if (!sShape) problems.push('boft_s (the output scale) is missing');
  else if (sShape.length !== 2 || (sShape[0] !== 1 && sShape[1] !== 1))
    problems.push(`boft_s ${fmt(sShape)} is not [out, 1] or [1, out]`);
  const cfg = ctx.config;
  // The stored factor count wins: without PEFT's CUDA kernel the config's factor silently becomes 1.
  const settings = {
    boft_block_size: configNumber(cfg, 'boft_block_size', 4),
    boft_block_num: configNumber(cfg, 'boft_block_num', 0),
    boft_n_butterfly_factor: configNumber(cfg, 'boft_n_butterfly_factor', 1),
  };
  if (cfg && !shapeProblem) {
    if (settings.boft_block_size !== 0 && settings.boft_block_size !== b)
      problems.push(
        `adapter_config boft_block_size ${settings.boft_block_size} disagrees with boft_R's blocks of ${b ?? '?'}`,
      );
    if (settings.boft_block_num !== 0 && settings.boft_block_num !== n)
      problems.push(
        `adapter_config boft_block_num ${settings.boft_block_num} disagrees with boft_R's ${n ?? '?'} blocks`,
      );
  }
  const label = `BOFT (${factors ?? '?'} × ${n ?? '?'} blocks of ${b ?? '?'})`;
  return {
    ...facts('boft', label, null, null, product([n, b]), out, { problems }),
    settings,
  };
}

async function peftEffect(m: LoraModule, io: EffectInputs): Promise<ModuleEffect> {
  const rName = m.parts['boft_R'] as string;
  const sName = m.parts['boft_s'];
  if (!sName) throw bad(m, 'boft_s (the output scale) is missing');
  const shape = io.tensor(rName).shape;
  const problem = butterflyProblem(shape);
  if (problem) throw bad(m, problem);
  const [factors = 0, n = 0, b = 0] = shape;
  const inK = product(io.weightShape.slice(1)) ?? 0;
  const out = io.weightShape[0] ?? 0;
  if (n * b !== inK)
    throw bad(m, `boft_R's ${n} blocks of ${b} cover ${n * b} inputs; the layer has ${inK}`);
  const scale = await io.read(sName);
  if (scale.length !== out)
    throw bad(m, `boft_s has ${scale.length} values; the layer has ${out} outputs`);
  const data = await io.read(rName);
  const stages: TransformStage[] = [];
  for (let i = 0; i < factors; i++) {
    const blocks = new Float64Array(n * b * b);
    for (let k = 0; k < n; k++) {
      const at0 = (i * n + k) * b * b;
      const r = cayleyExact(skewPart(data, at0, b), b);
      if (!r || !r.every(Number.isFinite))
        throw bad(m, `boft_R block ${i}/${k} has non-finite values, so its rotation is undefined`);
      blocks.set(transposeSquare(r, b), k * b * b);
    }
    // Mᵢᵀ = Pᵢ·blockdiag(Rᵀ)·Pᵢᵀ; a stage's perm is Pᵢᵀ's, i.e. the inverse of block_butterfly_perm.
    const perm = factors === 1 ? null : inverse(butterflyPerm(inK, n / 2 ** i, b / 2));
    stages.push({ kind: 'blocks', size: b, count: n, blocks, perm });
  }
  return { kind: 'transform', stages, outScale: scale };
}

export const boft: AdapterMethod = {
  id: 'boft',
  label: 'BOFT',
  peftType: 'BOFT',
  recognise: (m) => m.parts.has('boft_R') || m.parts.get('oft_blocks')?.shape.length === 4,
  describe: (m, ctx) => (m.parts.has('boft_R') ? peftFacts(m, ctx) : lycorisBlocksFacts(m, 'boft')),
  async effect(m, io) {
    if (m.parts['boft_R']) return peftEffect(m, io);
    throw lycorisRefusal(m, 'BOFT');
  },
};
