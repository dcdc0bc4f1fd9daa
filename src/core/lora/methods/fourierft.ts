/**
 * FourierFT (PEFT `fourierft_spectrum` [n]): n trained coefficients of W's 2-D spectrum. Their positions
 * are not saved; PEFT draws them again from `torch.randperm(out·in, generator=manual_seed(
 * random_loc_seed))[:n]` (flat index → row ⌊i/in⌋, column i mod in), which torchRandom.ts reproduces.
 * ΔW = real(ifft2(dense spectrum)) · scaling, ifft2 with torch's 1/(out·in) normalisation.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../types.js';
import { InverseDft } from './fft.js';
import { facts, fmt, partOf, peftSuffix } from './shapeHelpers.js';
import { cachedRandpermPrefix, torchSeed32 } from './torchRandom.js';
import type { AdapterMethod, MethodSettings } from './types.js';

const PART = 'fourierft_spectrum';
/** PEFT 0.21's FourierFTConfig defaults. */
const DEFAULT_SCALING = 150;
const DEFAULT_SEED = 777;

/** Without the config, the positions and the scale rest on PEFT's defaults: said, not assumed. */
export const NO_CONFIG =
  "no adapter_config.json: scaling and random_loc_seed are PEFT's defaults, not the adapter's";

/** A config field as written (null included: PEFT passes it on), or the default when absent. */
export function configField(
  config: Readonly<Record<string, unknown>> | null,
  key: string,
  fallback: unknown,
): unknown {
  return config && key in config ? config[key] : fallback;
}

/** A spectrum position source's settings: both FourierFT and WaveFT seed torch the same way. */
export function seedProblem(seed: unknown): string | null {
  if (typeof seed !== 'number' || torchSeed32(seed) === null)
    return `random_loc_seed ${JSON.stringify(seed)} is not an integer torch can seed with, so the spectrum positions cannot be regenerated`;
  return null;
}

/** The positions PEFT gives n coefficients in an [out, in] matrix: rows and columns. */
export function spectrumPositions(
  m: LoraModule,
  n: number,
  out: number,
  inF: number,
  seed: number,
): { rows: Int32Array; cols: Int32Array } {
  if (n > out * inF)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name}: ${n} coefficients do not fit a [${out}, ${inF}] weight`,
      m.name,
    );
  const flat = cachedRandpermPrefix(out * inF, n, seed);
  const rows = new Int32Array(n);
  const cols = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const f = flat[j] as number;
    rows[j] = Math.floor(f / inF);
    cols[j] = f % inF;
  }
  return { rows, cols };
}

/** Linear layers only: [out, in]; anything else is a named refusal. */
export function linearShape(
  m: LoraModule,
  label: string,
  shape: readonly number[],
): [number, number] {
  const [out, inF] = shape;
  if (shape.length !== 2 || !out || !inF)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name}: ${label} adapts linear layers only, the base weight is ${fmt(shape)}`,
      m.name,
    );
  return [out, inF];
}

/** Relative cost of one inverse DFT of length n (Bluestein: three FFTs of twice the size). */
function dftCost(n: number): number {
  if ((n & (n - 1)) === 0) return n * Math.log2(n + 1);
  let size = 1;
  while (size < 2 * n - 1) size *= 2;
  return 3 * size * Math.log2(size);
}

/**
 * Re(Σⱼ cⱼ·e^{2πi(a·rⱼ/out + b·kⱼ/in)}) · s/(out·in) for every (a, b), row-major [out, in]. The
 * transform runs along the cheaper axis; the other axis is folded coefficient by coefficient.
 */
export function sparseInverseDft2Real(
  out: number,
  inF: number,
  rows: Int32Array,
  cols: Int32Array,
  coeffs: Float64Array,
  scale: number,
): Float64Array {
  if (inF * dftCost(out) <= out * dftCost(inF))
    return alongColumns(out, inF, rows, cols, coeffs, scale);
  const t = alongColumns(inF, out, cols, rows, coeffs, scale);
  const delta = new Float64Array(out * inF);
  for (let b = 0; b < inF; b++)
    for (let a = 0; a < out; a++) delta[a * inF + b] = t[b * out + a] as number;
  return delta;
}

function unitCircle(n: number): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    cos[t] = Math.cos((2 * Math.PI * t) / n);
    sin[t] = Math.sin((2 * Math.PI * t) / n);
  }
  return { cos, sin };
}

/** Per column b the coefficients fold into one vector over the row frequencies; its inverse DFT is column b. */
function alongColumns(
  out: number,
  inF: number,
  rows: Int32Array,
  cols: Int32Array,
  coeffs: Float64Array,
  scale: number,
): Float64Array {
  const colTurn = unitCircle(inF);
  const freqs = [...new Set(rows)].sort((x, y) => x - y);
  // Few distinct row frequencies: a direct sum per column beats a transform of length out.
  const rowTurn = freqs.length * out <= dftCost(out) ? unitCircle(out) : null;
  const dft = rowTurn ? null : new InverseDft(out);
  const delta = new Float64Array(out * inF);
  const re = new Float64Array(out);
  const im = new Float64Array(out);
  const s = scale / (out * inF);
  for (let b = 0; b < inF; b++) {
    re.fill(0);
    im.fill(0);
    for (let j = 0; j < coeffs.length; j++) {
      const t = (b * (cols[j] as number)) % inF;
      const c = coeffs[j] as number;
      const r = rows[j] as number;
      re[r] = (re[r] as number) + c * (colTurn.cos[t] as number);
      im[r] = (im[r] as number) + c * (colTurn.sin[t] as number);
    }
    if (dft) {
      dft.run(re, im);
      for (let a = 0; a < out; a++) delta[a * inF + b] = s * (re[a] as number);
      continue;
    }
    const { cos, sin } = rowTurn as { cos: Float64Array; sin: Float64Array };
    for (let a = 0; a < out; a++) {
      let v = 0;
      for (const k of freqs) {
        const t = (a * k) % out;
        v += (re[k] as number) * (cos[t] as number) - (im[k] as number) * (sin[t] as number);
      }
      delta[a * inF + b] = s * v;
    }
  }
  return delta;
}

export const fourierft: AdapterMethod = {
  id: 'fourierft',
  label: 'FourierFT',
  peftType: 'FOURIERFT',
  parts: [{ re: peftSuffix('', [PART]), part: PART }],
  hint: PART,
  recognise: (m) => m.parts.has(PART),
  describe(raw, ctx) {
    const shape = partOf(raw)(PART)?.shape ?? [];
    const n = shape.length === 1 ? (shape[0] ?? 0) : null;
    const problems: string[] = [];
    if (n === null) problems.push(`${PART} is ${fmt(shape)}, FourierFT saves a 1-D vector`);
    const scaling = configField(ctx.config, 'scaling', DEFAULT_SCALING);
    const seed = configField(ctx.config, 'random_loc_seed', DEFAULT_SEED);
    if (typeof scaling !== 'number' || !Number.isFinite(scaling))
      problems.push(`scaling ${JSON.stringify(scaling)} is not a number`);
    const bad = seedProblem(seed);
    if (bad) problems.push(bad);
    if (!ctx.config) problems.push(NO_CONFIG);
    const settings: MethodSettings = {
      n_frequency: n,
      scaling: typeof scaling === 'number' ? scaling : null,
      random_loc_seed: typeof seed === 'number' ? seed : null,
    };
    return {
      ...facts('fourierft', `FourierFT (${n ?? '?'} frequencies)`, null, null, null, null, {
        problems,
      }),
      settings,
      scale: {
        value: settings.scaling as number | null,
        rule: 'FourierFT scaling (adapter_config.json)',
      },
    };
  },
  async effect(m, io) {
    const name = m.parts[PART];
    const settings = m.method?.settings ?? {};
    const seed = settings['random_loc_seed'];
    const scaling = settings['scaling'];
    if (!name) throw new CheckpointError('InvalidExport', `${m.name}: no ${PART}`, m.name);
    const why =
      seedProblem(seed) ?? (typeof scaling === 'number' ? null : 'scaling is not a number');
    if (why) throw new CheckpointError('InvalidExport', `${m.name}: FourierFT ${why}`, m.name);
    const [out, inF] = linearShape(m, 'FourierFT', io.weightShape);
    const shape = io.tensor(name).shape;
    if (shape.length !== 1)
      throw new CheckpointError('InvalidExport', `${m.name}: ${PART} is ${fmt(shape)}`, m.name);
    const coeffs = await io.read(name);
    const { rows, cols } = spectrumPositions(m, coeffs.length, out, inF, seed as number);
    return {
      kind: 'delta',
      delta: sparseInverseDft2Real(out, inF, rows, cols, coeffs, scaling as number),
    };
  },
};
