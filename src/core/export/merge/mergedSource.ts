/**
 * The merged model as a checkpoint the safetensors writer can copy from: each tensor that needs work
 * (a patched weight, a quantized or FP8 weight to dequantize) is computed block by block of rows when
 * the writer asks for its bytes, W + s·ΔW in float64 then cast once to the output dtype. Nothing is
 * ever held whole, so the merge streams a base of any size.
 */
import type { Checkpoint, ElementRange, TensorInfo } from '../../formats/checkpoint.js';
import { encodeFloats, type FloatTarget } from '../../formats/encode.js';
import { CheckpointError } from '../../formats/errors.js';
import { readFloatElements, rowLength } from '../../formats/quant/readFloat.js';
import { applyDelta, doraNorms, loadFactors, type Factors } from './deltas.js';
import type { MergePatch } from './plan.js';

/** Values per block: 4 Mi elements keep a 7B MLP weight at 32 MiB of float64 per step. */
export const MERGE_BLOCK_ELEMENTS = 1 << 22;

/** One computed output tensor: a base tensor, the patches onto it, and the dtype it is written in. */
export interface ComputedTensor {
  readonly source: TensorInfo;
  readonly patches: readonly MergePatch[];
  readonly dtype: FloatTarget;
}

interface Loaded {
  readonly p: MergePatch;
  readonly f: Factors;
  readonly norms: Float64Array | null;
}

/** The writer's view: a TensorInfo per computed tensor, and reads that compute. */
export interface MergedSource {
  readonly checkpoint: Checkpoint;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
}

const BYTES: Record<FloatTarget, number> = { F32: 4, F16: 2, BF16: 2 };

function nonFinite(dtype: FloatTarget, bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    for (let k = 0; k < bytes.length / 4; k++)
      if ((dv.getUint32(k * 4, true) & 0x7f800000) === 0x7f800000) return k;
  } else {
    const mask = dtype === 'F16' ? 0x7c00 : 0x7f80;
    for (let k = 0; k < bytes.length / 2; k++)
      if ((dv.getUint16(k * 2, true) & mask) === mask) return k;
  }
  return -1;
}

/**
 * Builds the computed tensors over `base` and `adapter`. Each output TensorInfo has the output dtype,
 * the source's shape, and an offset of 0 so the writer reads it in element ranges.
 */
export function mergedSource(
  base: Checkpoint,
  adapter: Checkpoint,
  computed: readonly ComputedTensor[],
  signal?: AbortSignal,
  blockElements = MERGE_BLOCK_ELEMENTS,
): MergedSource {
  const specs = new Map<string, ComputedTensor>();
  const tensors = new Map<string, TensorInfo>();
  for (const c of computed) {
    specs.set(c.source.name, c);
    tensors.set(c.source.name, {
      name: c.source.name,
      dtype: c.dtype,
      shape: c.source.shape,
      offset: 0,
      byteLength: c.source.parameterCount * BYTES[c.dtype],
      parameterCount: c.source.parameterCount,
    });
  }
  const loaded = new Map<string, Promise<Loaded[]>>();

  async function rowsF64(t: TensorInfo, first: number, count: number): Promise<Float64Array> {
    const cols = rowLength(t);
    const f32 = new Float32Array(count * cols);
    await readFloatElements(base, t, first * cols, count * cols, f32);
    return Float64Array.from(f32);
  }

  function factorsOf(c: ComputedTensor): Promise<Loaded[]> {
    let l = loaded.get(c.source.name);
    if (!l) {
      l = (async () => {
        const out: Loaded[] = [];
        for (const p of c.patches) {
          const f = await loadFactors(adapter, p);
          const norms = f.magnitude
            ? await doraNorms((a, n) => rowsF64(c.source, a, n), p, f, signal, blockElements)
            : null;
          out.push({ p, f, norms });
        }
        return out;
      })();
      // The writer may stop at another tensor's error before awaiting this one: never unhandled.
      l.catch(() => undefined);
      loaded.set(c.source.name, l);
    }
    return l;
  }

  async function compute(c: ComputedTensor, range: ElementRange): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const cols = Math.max(1, rowLength(c.source));
    const first = Math.floor(range.start / cols);
    const end = Math.ceil((range.start + range.count) / cols);
    const values = await rowsF64(c.source, first, end - first);
    if (c.patches.length > 0) {
      const changed = new Uint8Array(values.length);
      for (const { p, f, norms } of await factorsOf(c))
        applyDelta(p, f, values, first, end - first, changed, norms);
    }
    const skip = range.start - first * cols;
    const bytes = encodeFloats(values.subarray(skip, skip + range.count), c.dtype);
    const bad = nonFinite(c.dtype, bytes);
    if (bad >= 0) {
      const at = range.start + bad;
      throw new CheckpointError(
        'InvalidExport',
        `${c.source.name} [${Math.floor(at / cols)}, ${at % cols}] would be ${values[skip + bad]} in ${c.dtype} (not finite)${c.patches.length ? ` after merging ${c.patches.map((p) => p.module.name).join(', ')}` : ''}; nothing was written`,
        c.source.name,
      );
    }
    return bytes;
  }

  const checkpoint = Object.assign(Object.create(base) as Checkpoint, {
    tensors: [...tensors.values()],
    readSpan: undefined,
    tensor(name: string): TensorInfo {
      const t = tensors.get(name);
      if (!t) throw new CheckpointError('TensorNotFound', `no computed tensor "${name}"`, name);
      return t;
    },
    readTensorBytes(t: TensorInfo, range?: ElementRange, into?: Uint8Array): Promise<Uint8Array> {
      const c = specs.get(t.name);
      if (!c)
        return Promise.reject(
          new CheckpointError('TensorNotFound', `no computed tensor "${t.name}"`, t.name),
        );
      const r = range ?? { start: 0, count: t.parameterCount };
      return compute(c, r).then((bytes) => {
        if (into && into.length === bytes.length) {
          into.set(bytes);
          return into;
        }
        return bytes;
      });
    },
  });
  return { checkpoint, tensors };
}
