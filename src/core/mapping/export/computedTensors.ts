/**
 * Tensors computed on demand for a conversion (a fused A/B pair, one member's rows of B), behind the
 * Checkpoint interface so the remapped export writes them like any source tensor: one at a time, when
 * the writer asks.
 */
import type { Checkpoint, ElementRange, TensorInfo } from '../../formats/checkpoint.js';
import { decodeValues } from '../../formats/decode.js';
import { isDType } from '../../formats/dtypes.js';
import { encodeFloats, type FloatTarget } from '../../formats/encode.js';
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../../lora/types.js';

/** A row-major matrix of float64 values. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly values: Float64Array;
}

export interface ComputedTensor {
  readonly name: string;
  readonly dtype: FloatTarget;
  readonly shape: readonly [number, number];
  readonly compute: () => Promise<Matrix>;
}

const FLOAT_TARGETS: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16']);

export function isFloatTarget(dtype: string): dtype is FloatTarget {
  return FLOAT_TARGETS.has(dtype);
}

export async function readMatrix(ckpt: Checkpoint, t: TensorInfo): Promise<Matrix> {
  if (!isDType(t.dtype) || t.shape.length !== 2)
    throw new CheckpointError(
      'InvalidExport',
      `${t.name} is ${t.dtype} [${t.shape.join(', ')}]; only 2-D float tensors are converted`,
      t.name,
    );
  const values = decodeValues(await ckpt.readTensorBytes(t), t.dtype);
  return { rows: t.shape[0] ?? 0, cols: t.shape[1] ?? 0, values };
}

function transposed(m: Matrix): Matrix {
  const out = new Float64Array(m.values.length);
  for (let r = 0; r < m.rows; r++)
    for (let c = 0; c < m.cols; c++) out[c * m.rows + r] = m.values[r * m.cols + c] as number;
  return { rows: m.cols, cols: m.rows, values: out };
}

/** A module's A [r, in] and B [out, r], whatever orientation the file stores them in. */
export async function logicalPair(
  adapter: Checkpoint,
  m: LoraModule,
): Promise<{ a: Matrix; b: Matrix }> {
  const down = adapter.tensor(m.parts.down ?? '');
  const up = adapter.tensor(m.parts.up ?? '');
  const a = await readMatrix(adapter, down);
  const b = await readMatrix(adapter, up);
  return m.orientation === 'transposed' ? { a: transposed(a), b: transposed(b) } : { a, b };
}

/** The dtype a computed tensor is written in: the sources' when they agree and no value is rescaled. */
export function outputDtype(sources: readonly TensorInfo[], rescaled: boolean): FloatTarget {
  const dtypes = new Set(sources.map((t) => t.dtype));
  const only = dtypes.size === 1 ? [...dtypes][0] : undefined;
  if (only && isFloatTarget(only) && (!rescaled || only === 'F32')) return only;
  // A rescaled half-precision value, or mixed dtypes: F32 holds every product without new rounding.
  return 'F32';
}

/** The source checkpoint plus computed tensors (names that the source does not have). */
export function withComputed(source: Checkpoint, computed: readonly ComputedTensor[]): Checkpoint {
  const infos = new Map<string, TensorInfo>();
  const byName = new Map<string, ComputedTensor>();
  for (const c of computed) {
    if (byName.has(c.name) || source.tensors.some((t) => t.name === c.name))
      throw new CheckpointError('InternalError', `computed tensor ${c.name} is not unique`, c.name);
    const n = c.shape[0] * c.shape[1];
    const size = c.dtype === 'F32' ? 4 : 2;
    infos.set(c.name, {
      name: c.name,
      dtype: c.dtype,
      shape: [...c.shape],
      offset: -1,
      byteLength: n * size,
      parameterCount: n,
    });
    byName.set(c.name, c);
  }
  const tensors = [...source.tensors, ...infos.values()];
  return {
    format: source.format,
    name: `${source.name} (converted)`,
    fileSize: source.fileSize,
    headerByteLength: source.headerByteLength,
    tensors,
    metadata: source.metadata,
    parameterCount: source.parameterCount,
    dataBytes: source.dataBytes,
    dtypes: source.dtypes,
    ...(source.configs ? { configs: source.configs } : {}),
    ...(source.values ? { values: source.values } : {}),
    tensor(name: string): TensorInfo {
      return infos.get(name) ?? source.tensor(name);
    },
    async readTensorBytes(
      t: TensorInfo,
      range?: ElementRange,
      into?: Uint8Array,
    ): Promise<Uint8Array> {
      const c = byName.get(t.name);
      if (!c || infos.get(t.name) !== t) return source.readTensorBytes(t, range, into);
      const m = await c.compute();
      if (m.rows !== c.shape[0] || m.cols !== c.shape[1])
        throw new CheckpointError(
          'InternalError',
          `${c.name} computed as [${m.rows}, ${m.cols}], declared [${c.shape.join(', ')}]`,
          c.name,
        );
      const bytes = encodeFloats(m.values, c.dtype);
      if (!range) return bytes;
      const size = c.dtype === 'F32' ? 4 : 2;
      return bytes.subarray(range.start * size, (range.start + range.count) * size);
    },
    close: () => source.close(),
  };
}
