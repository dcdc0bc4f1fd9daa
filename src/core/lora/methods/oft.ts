/**
 * OFT: an orthogonal, block-diagonal rotation of the layer's input. PEFT ≥ 0.14 keeps each block's
 * skew-symmetric generator packed (`oft_R.weight` [blocks, b·(b−1)/2], `oft_embedding_R` for
 * embeddings); PEFT ≤ 0.13 kept full blocks plus an output scale (`oft_r` [n, b, b], `oft_s`);
 * LyCORIS keeps `oft_blocks` [n, b, b] (a 4-D one is BOFT) and rotates the outputs instead.
 *
 * PEFT merges a linear/conv as Wᵀ ← R_blockdiag·Wᵀ, i.e. W′ = W·R_blockdiagᵀ (its forward rotates
 * x·R before the layer); an embedding table [num, dim] as W′ = W·R.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { RawModule } from '../moduleGrouping.js';
import type { LoraModule } from '../types.js';
import { blockSizeProblem, oftSettings, readOftSettings, type OftSettings } from './oftConfig.js';
import {
  cayleyExact,
  cayleyNeumann,
  configBool,
  configNumber,
  frobenius,
  settingBool,
  settingNumber,
  skewFromPacked,
  skewPart,
  transposeSquare,
  triangleSide,
} from './rotations.js';
import { ADAPTER_NAME, at, facts, fmt, partOf, product } from './shapeHelpers.js';
import type {
  AdapterMethod,
  DescribeContext,
  EffectInputs,
  MethodFacts,
  ModuleEffect,
} from './types.js';

/** LyCORIS `oft_blocks` [n, b, b] (OFT) or [m, n, b, b] (BOFT). */
export function lycorisBlocksFacts(m: RawModule, id: 'oft' | 'boft'): MethodFacts {
  const blocks = partOf(m)('oft_blocks')?.shape;
  const name = id === 'boft' ? 'BOFT' : 'OFT';
  if (blocks && blocks.length >= 3) {
    const n = blocks.length === 4 ? at(blocks, 1) : at(blocks, 0);
    const size = at(blocks, blocks.length - 1);
    const features = product([n, size]);
    return facts(
      id,
      `${name} (${n ?? '?'} blocks of ${size ?? '?'})`,
      null,
      null,
      features,
      features,
    );
  }
  return facts(id, name, null, null, null, null);
}

/** LyCORIS rotates W's rows (its outputs); a transform effect only rotates the inputs. */
export function lycorisRefusal(m: LoraModule, label: string): CheckpointError {
  return new CheckpointError(
    'InvalidExport',
    `${m.name}: LyCORIS ${label} (oft_blocks) rotates the layer's outputs (W′ = Rᵀ·W); LoRA Lens applies rotations of the input only, so this module is not supported yet`,
    m.name,
  );
}

const bad = (m: LoraModule, why: string): CheckpointError =>
  new CheckpointError('InvalidExport', `${m.name}: ${why}`, m.name);

/** The packed PEFT ≥ 0.14 part of a module, if it has one. */
function packedPart(has: (p: string) => boolean): 'oft_R' | 'oft_embedding_R' | null {
  if (has('oft_R')) return 'oft_R';
  return has('oft_embedding_R') ? 'oft_embedding_R' : null;
}

function packedFacts(m: RawModule, part: string, ctx: DescribeContext): MethodFacts {
  const shape = partOf(m)(part)?.shape ?? [];
  const settings = oftSettings(ctx.config);
  const s = readOftSettings(settings);
  const problems: string[] = [];
  const n = at(shape, 0);
  const b = shape.length === 2 ? triangleSide(at(shape, 1) ?? -1) : null;
  if (shape.length !== 2 || b === null)
    problems.push(`${part} ${fmt(shape)} is not [blocks, b·(b−1)/2] for any block size b`);
  if (s.blockShare === true && n !== 1)
    problems.push(`block_share is set but ${part} ${fmt(shape)} holds ${n ?? '?'} blocks`);
  const share = s.blockShare === true;
  const inF = b !== null && n !== null && !share ? n * b : null;
  if (inF !== null && b !== null) {
    const p = blockSizeProblem(inF, b, s);
    if (p) problems.push(p);
  }
  const what = part === 'oft_embedding_R' ? 'OFT embedding' : 'OFT';
  const label = share
    ? `${what} (one shared block of ${b ?? '?'})`
    : `${what} (${n ?? '?'} blocks of ${b ?? '?'})`;
  return { ...facts('oft', label, null, null, inF, null, { problems }), settings };
}

/** PEFT ≤ 0.13: full blocks `oft_r` [n, b, b] (their skew part is used) and `oft_s` [out, 1]. */
function legacyFacts(m: RawModule, ctx: DescribeContext): MethodFacts {
  const part = partOf(m);
  const r = part('oft_r')?.shape ?? [];
  const sShape = part('oft_s')?.shape;
  const problems: string[] = [];
  const [n = null, b = null, b2 = null] = r.length === 3 ? r : [];
  if (r.length !== 3 || b !== b2) problems.push(`oft_r ${fmt(r)} is not [blocks, b, b]`);
  if (!sShape) problems.push('oft_s (the output scale) is missing');
  const cfg = ctx.config;
  const settings = {
    coft: configBool(cfg, 'coft', false),
    eps: configNumber(cfg, 'eps', 6e-5),
    block_share: cfg ? configBool(cfg, 'block_share', false) : null,
  };
  const share = settings.block_share === true;
  const inF = !share && n !== null && b !== null ? n * b : null;
  const label = `OFT, PEFT ≤ 0.13 (${n ?? '?'} blocks of ${b ?? '?'})`;
  return { ...facts('oft', label, null, null, inF, at(sShape, 0), { problems }), settings };
}

/** How many times the stored blocks tile the `inK` inputs, or why they cannot. */
function blockCount(
  m: LoraModule,
  stored: number,
  b: number,
  inK: number,
  share: boolean | null,
): number {
  // Without a config, one stored block narrower than the layer can only be a shared one.
  const shared = share ?? (stored === 1 && b !== inK);
  if (shared) {
    if (stored !== 1) throw bad(m, `block_share is set but ${stored} OFT blocks are stored`);
    if (inK % b !== 0)
      throw bad(m, `a shared OFT block of ${b} does not tile the layer's ${inK} inputs`);
    return inK / b;
  }
  if (stored * b !== inK)
    throw bad(m, `${stored} OFT blocks of ${b} cover ${stored * b} inputs; the layer has ${inK}`);
  return stored;
}

/** Repeats (block sharing) or lays out the rotated blocks along the diagonal. */
function diagonal(rotations: readonly Float64Array[], b: number, count: number): Float64Array {
  const blocks = new Float64Array(count * b * b);
  for (let k = 0; k < count; k++)
    blocks.set(rotations[rotations.length === 1 ? 0 : k] as Float64Array, k * b * b);
  return blocks;
}

function checkedRotation(m: LoraModule, r: Float64Array | null): Float64Array {
  if (!r || !r.every(Number.isFinite))
    throw bad(m, 'an OFT block has non-finite values, so its rotation is undefined');
  return r;
}

/** OFTRotationModule: COFT projection, then Cayley (exact or Neumann) per stored block. */
function packedRotation(vec: Float64Array, k: number, b: number, stored: number, s: OftSettings) {
  const q = skewFromPacked(vec, (k * b * (b - 1)) / 2, b);
  if (s.coft) {
    // _project_batch: each block onto the Frobenius ball of radius eps/√blocks.
    const radius = s.eps / Math.sqrt(stored);
    const norm = frobenius(q);
    if (norm > radius) for (let i = 0; i < q.length; i++) q[i] = ((q[i] as number) * radius) / norm;
  }
  return s.useCayleyNeumann ? cayleyNeumann(q, b, s.neumannTerms, s.series) : cayleyExact(q, b);
}

async function packedEffect(
  m: LoraModule,
  io: EffectInputs,
  part: 'oft_R' | 'oft_embedding_R',
): Promise<ModuleEffect> {
  const name = m.parts[part] as string;
  const shape = io.tensor(name).shape;
  const b = shape.length === 2 ? triangleSide(shape[1] ?? -1) : null;
  if (b === null) throw bad(m, `${part} ${fmt(shape)} is not [blocks, b·(b−1)/2]`);
  const stored = shape[0] ?? 0;
  const inK = product(io.weightShape.slice(1)) ?? 0;
  const s = readOftSettings(m.method?.settings);
  const count = blockCount(m, stored, b, inK, s.blockShare);
  const problem = blockSizeProblem(inK, b, s);
  if (problem) throw bad(m, problem);
  const vec = await io.read(name);
  const rotations: Float64Array[] = [];
  for (let k = 0; k < stored; k++) {
    const r = checkedRotation(m, packedRotation(vec, k, b, stored, s));
    // Linear/conv: W′ = W·Rᵀ per block; an embedding table: W′ = W·R.
    rotations.push(part === 'oft_embedding_R' ? r : transposeSquare(r, b));
  }
  const blocks = diagonal(rotations, b, count);
  return {
    kind: 'transform',
    stages: [{ kind: 'blocks', size: b, count, blocks, perm: null }],
    outScale: null,
  };
}

/** PEFT ≤ 0.13's OFTLayer.get_delta_weight: W′ = diag(oft_s)·W·blockdiag(R)ᵀ. */
async function legacyEffect(m: LoraModule, io: EffectInputs): Promise<ModuleEffect> {
  const rName = m.parts['oft_r'] as string;
  const sName = m.parts['oft_s'];
  if (!sName) throw bad(m, 'oft_s (the output scale of PEFT ≤ 0.13 OFT) is missing');
  const [stored = 0, b = 0, b2 = 0] = io.tensor(rName).shape;
  if (io.tensor(rName).shape.length !== 3 || b !== b2 || b === 0)
    throw bad(m, `oft_r ${fmt(io.tensor(rName).shape)} is not [blocks, b, b]`);
  const out = io.weightShape[0] ?? 0;
  const inK = product(io.weightShape.slice(1)) ?? 0;
  const settings = m.method?.settings;
  const share = readOftSettings(settings).blockShare;
  const count = blockCount(m, stored, b, inK, share);
  const scale = await io.read(sName);
  if (scale.length !== out)
    throw bad(m, `oft_s has ${scale.length} values; the layer has ${out} outputs`);
  const data = await io.read(rName);
  const coft = settingBool(settings, 'coft', false);
  const eps = settingNumber(settings, 'eps', 6e-5);
  // OFTLayer.update_layer scaled eps by ⌈out/r⌉², _project_batch divided it by √blocks.
  const radius = (eps * Math.ceil(out / (inK / b)) ** 2) / Math.sqrt(stored);
  const rotations: Float64Array[] = [];
  for (let k = 0; k < stored; k++) {
    const blk = data.slice(k * b * b, (k + 1) * b * b);
    const norm = frobenius(blk);
    if (coft && norm > radius)
      for (let i = 0; i < blk.length; i++) blk[i] = ((blk[i] as number) * radius) / norm;
    const r = checkedRotation(m, cayleyExact(skewPart(blk, 0, b), b));
    rotations.push(transposeSquare(r, b));
  }
  return {
    kind: 'transform',
    stages: [{ kind: 'blocks', size: b, count, blocks: diagonal(rotations, b, count), perm: null }],
    outScale: scale,
  };
}

export const oft: AdapterMethod = {
  id: 'oft',
  label: 'OFT',
  peftType: 'OFT',
  // `oft_R.weight` is among tensorParts' own rules; the embedding variant is not.
  parts: [
    {
      re: new RegExp(String.raw`^(.*)\.oft_embedding_R${ADAPTER_NAME}\.weight$`),
      part: 'oft_embedding_R',
    },
  ],
  hint: 'oft_embedding_R',
  recognise: (m) =>
    m.parts.has('oft_R') ||
    m.parts.has('oft_embedding_R') ||
    m.parts.has('oft_r') ||
    (m.parts.has('oft_blocks') && m.parts.get('oft_blocks')?.shape.length !== 4),
  describe(m, ctx) {
    const packed = packedPart((p) => m.parts.has(p));
    if (packed) return packedFacts(m, packed, ctx);
    if (m.parts.has('oft_r')) return legacyFacts(m, ctx);
    return lycorisBlocksFacts(m, 'oft');
  },
  async effect(m, io) {
    const packed = packedPart((p) => m.parts[p] !== undefined);
    if (packed) return packedEffect(m, io, packed);
    if (m.parts['oft_r']) return legacyEffect(m, io);
    throw lycorisRefusal(m, 'OFT');
  },
};
