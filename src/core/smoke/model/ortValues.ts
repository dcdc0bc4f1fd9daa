/**
 * ORT tensors ↔ numbers for the whole-model check, and the options every session of it uses. ORT is
 * only a type here: the module comes in as a parameter (the extension bundle never loads it).
 */
import type * as Ort from 'onnxruntime-node';
import { halfToNumber } from '../../formats/decode.js';
import { numberToHalf } from '../../formats/encode.js';
import type { EpName } from '../types.js';

export type OrtModule = typeof import('onnxruntime-node');

/** CPU output location always (onnxruntime.md §7); quiet logs. */
export function sessionOptions(ep: EpName): Ort.InferenceSession.SessionOptions {
  return { executionProviders: [ep], preferredOutputLocation: 'cpu', logSeverityLevel: 3 };
}

/** Every element as a double; null for string tensors. */
export function numbersOf(t: Ort.Tensor): Float64Array | null {
  const data = t.data;
  if (t.type === 'string' || !(ArrayBuffer.isView(data) || Array.isArray(data))) return null;
  if (t.type === 'float16') {
    const src = data as Uint16Array;
    const out = new Float64Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = halfToNumber(src[i] as number);
    return out;
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const out = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
    return out;
  }
  return Float64Array.from(data as ArrayLike<number>);
}

/** A float tensor of `type` (float32 or float16) from doubles. */
export function floatTensor(
  ort: OrtModule,
  type: 'float32' | 'float16',
  values: ArrayLike<number>,
  dims: readonly number[],
): Ort.Tensor {
  if (type === 'float32') return new ort.Tensor('float32', Float32Array.from(values), dims);
  const half = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) half[i] = numberToHalf(values[i] as number);
  return new ort.Tensor('float16', half, dims);
}

/** A seeded generator (mulberry32): the same seed gives the same inputs on every machine. */
export function seededRandom(seed: number): { uniform(): number; normal(): number } {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => {
      const u = Math.max(uniform(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
    },
  };
}
