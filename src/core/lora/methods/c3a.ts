/**
 * C3A (PEFT `c3a_kernel` [out/b, in/b, b]): ΔW is block-circulant, one b×b circulant block per
 * (output block m, input block n), divided by in_features. PEFT's forward computes
 * y_m = Σ_n fft(ifft(x_n) · fft(w_mn)).real, a circular cross-correlation:
 * y_m[j] = Σ_n Σ_s w[m, n, s] · x_n[(j + s) mod b], so ΔW[m·b + j, n·b + t] = w[m, n, (t − j) mod b] / in.
 */
import { CheckpointError } from '../../formats/errors.js';
import { facts, fmt, partOf, peftSuffix } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

const PART = 'c3a_kernel';

/** [out, in, block] from a kernel shape, or a sentence saying why it is not one. */
function kernelDims(shape: readonly number[]): [number, number, number] | string {
  const [m, n, b] = shape;
  if (shape.length !== 3 || !m || !n || !b)
    return `${PART} is ${fmt(shape)}, C3A saves [out/b, in/b, b]`;
  return [m * b, n * b, b];
}

/** The dense block-circulant ΔW [out, in] of a kernel [mb, nb, b]. */
export function circulantDelta(
  kernel: Float64Array,
  mb: number,
  nb: number,
  b: number,
): Float64Array {
  const inF = nb * b;
  const delta = new Float64Array(mb * b * inF);
  const s = 1 / inF;
  for (let m = 0; m < mb; m++)
    for (let n = 0; n < nb; n++) {
      const w = (m * nb + n) * b;
      for (let j = 0; j < b; j++) {
        const row = (m * b + j) * inF + n * b;
        for (let t = 0; t < b; t++) delta[row + t] = s * (kernel[w + ((t - j + b) % b)] as number);
      }
    }
  return delta;
}

export const c3a: AdapterMethod = {
  id: 'c3a',
  label: 'C3A',
  peftType: 'C3A',
  parts: [{ re: peftSuffix('', [PART]), part: PART }],
  hint: PART,
  recognise: (m) => m.parts.has(PART),
  describe(raw) {
    const dims = kernelDims(partOf(raw)(PART)?.shape ?? []);
    if (typeof dims === 'string')
      return { ...facts('c3a', 'C3A', null, null, null, null, { problems: [dims] }), scale: null };
    const [out, inF, b] = dims;
    return {
      ...facts('c3a', `C3A (blocks of ${b})`, null, null, inF, out),
      settings: { block_size: b },
      scale: { value: 1 / inF, rule: '1/in_features (C3A divides ΔW by the input size)' },
    };
  },
  async effect(m, io) {
    const name = m.parts[PART];
    if (!name) throw new CheckpointError('InvalidExport', `${m.name}: no ${PART}`, m.name);
    const shape = io.tensor(name).shape;
    const dims = kernelDims(shape);
    if (typeof dims === 'string')
      throw new CheckpointError('InvalidExport', `${m.name}: ${dims}`, m.name);
    const [out, inF, b] = dims;
    const w = io.weightShape;
    if (w.length !== 2 || w[0] !== out || w[1] !== inF)
      throw new CheckpointError(
        'InvalidExport',
        `${m.name}: ${PART} ${fmt(shape)} makes a [${out}, ${inF}] ΔW, the base weight is ${fmt(w)}`,
        m.name,
      );
    return { kind: 'delta', delta: circulantDelta(await io.read(name), out / b, inF / b, b) };
  },
};
