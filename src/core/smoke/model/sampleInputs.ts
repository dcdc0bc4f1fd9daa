/**
 * Inputs for the whole-model check when no reference is given, from the model's declared inputs:
 * token ids in [0, vocab), attention masks of ones, position ids 0, 1, 2, …, seeded normal floats.
 * Symbolic dims get batch 1 and 8 for everything else.
 */
import type * as Ort from 'onnxruntime-node';
import type { TensorInfo } from '../../formats/checkpoint.js';
import { floatTensor, seededRandom, type OrtModule } from './ortValues.js';

const DEFAULT_VOCAB = 100;
const SYMBOLIC_DIM = 8;

/** Rows of the embedding table: the first float matrix a `Gather` reads; 100 when there is none. */
export function vocabSize(tensors: readonly TensorInfo[]): number {
  const table = tensors.find(
    (t) =>
      t.shape.length === 2 &&
      /^(F|BF)\d+$/.test(t.dtype) &&
      (t.consumers ?? []).some((c) => c.op === 'Gather'),
  );
  return table?.shape[0] ?? DEFAULT_VOCAB;
}

function dimsOf(shape: readonly (number | string)[]): number[] {
  return shape.map((d) => {
    if (typeof d === 'number' && d >= 0) return d;
    return typeof d === 'string' && /batch/i.test(d) ? 1 : SYMBOLIC_DIM;
  });
}

const INT_TYPES = new Set([
  'int64',
  'int32',
  'int16',
  'int8',
  'uint64',
  'uint32',
  'uint16',
  'uint8',
]);

function intTensor(ort: OrtModule, type: string, values: number[], dims: number[]): Ort.Tensor {
  switch (type) {
    case 'int64':
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(values, (v) => BigInt(v)),
        dims,
      );
    case 'uint64':
      return new ort.Tensor(
        'uint64',
        BigUint64Array.from(values, (v) => BigInt(v)),
        dims,
      );
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(values), dims);
    case 'uint32':
      return new ort.Tensor('uint32', Uint32Array.from(values), dims);
    case 'int16':
      return new ort.Tensor('int16', Int16Array.from(values), dims);
    case 'uint16':
      return new ort.Tensor('uint16', Uint16Array.from(values), dims);
    case 'int8':
      return new ort.Tensor('int8', Int8Array.from(values), dims);
    default:
      return new ort.Tensor('uint8', Uint8Array.from(values), dims);
  }
}

export interface GeneratedInputs {
  readonly feeds: Record<string, Ort.Tensor>;
  /** Inputs that could not be generated (string or non-tensor inputs). */
  readonly problems: readonly string[];
}

export function generateInputs(
  ort: OrtModule,
  metadata: readonly Ort.InferenceSession.ValueMetadata[],
  vocab: number,
  seed: number,
): GeneratedInputs {
  const rng = seededRandom(seed);
  const feeds: Record<string, Ort.Tensor> = {};
  const problems: string[] = [];
  for (const meta of metadata) {
    if (!meta.isTensor) {
      problems.push(`input ${meta.name} is not a tensor; it cannot be generated`);
      continue;
    }
    const dims = dimsOf(meta.shape);
    const n = dims.reduce((a, b) => a * b, 1);
    const last = dims[dims.length - 1] ?? 1;
    if (meta.type === 'float32' || meta.type === 'float16') {
      feeds[meta.name] = floatTensor(ort, meta.type, Array.from({ length: n }, rng.normal), dims);
    } else if (meta.type === 'float64') {
      feeds[meta.name] = new ort.Tensor(
        'float64',
        Float64Array.from({ length: n }, rng.normal),
        dims,
      );
    } else if (meta.type === 'bool') {
      feeds[meta.name] = new ort.Tensor('bool', new Uint8Array(n).fill(1), dims);
    } else if (INT_TYPES.has(meta.type)) {
      const values = Array.from({ length: n }, (_, i) => {
        if (/mask/i.test(meta.name)) return 1;
        if (/position/i.test(meta.name)) return i % last;
        return Math.floor(rng.uniform() * vocab);
      });
      feeds[meta.name] = intTensor(ort, meta.type, values, dims);
    } else {
      problems.push(`input ${meta.name} is ${meta.type}; it cannot be generated`);
    }
  }
  return { feeds, problems };
}
