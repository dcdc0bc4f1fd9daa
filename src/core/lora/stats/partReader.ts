import type { Checkpoint, TensorInfo } from '../../formats/checkpoint.js';
import { decodeValues } from '../../formats/decode.js';
import { DTYPE_BITS, isDType, type DType } from '../../formats/dtypes.js';
import type { PartStats } from './types.js';

export const DEFAULT_CHUNK_ELEMENTS = 1 << 20;

/** The module's data cannot be turned into numbers (a GGUF block type, packed FP4, complex). */
export class UndecodableError extends Error {}

// Packed sub-byte and complex values have no single real number per element.
const UNDECODABLE: ReadonlySet<string> = new Set(['F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

/** Running element statistics of one tensor, fed chunk by chunk. */
class PartAccumulator {
  private sumSq = 0;
  private sum = 0;
  private finite = 0;
  private maxAbs = 0;
  private min = Infinity;
  private max = -Infinity;
  private nan = 0;
  private inf = 0;
  private zeros = 0;

  constructor(private readonly t: TensorInfo) {}

  add(v: Float64Array): void {
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as number;
      if (x !== x) this.nan++;
      else if (x === Infinity || x === -Infinity) this.inf++;
      else {
        if (x === 0) this.zeros++;
        this.sumSq += x * x;
        this.sum += x;
        this.finite++;
        if (x < this.min) this.min = x;
        if (x > this.max) this.max = x;
      }
    }
    this.maxAbs = Math.max(this.maxAbs, Math.abs(this.min), Math.abs(this.max));
  }

  result(): PartStats {
    const any = this.finite > 0;
    return {
      tensor: this.t.name,
      dtype: this.t.dtype,
      shape: this.t.shape,
      count: this.t.parameterCount,
      norm: Math.sqrt(this.sumSq),
      maxAbs: any ? this.maxAbs : 0,
      min: any ? this.min : null,
      max: any ? this.max : null,
      mean: any ? this.sum / this.finite : null,
      nanCount: this.nan,
      infCount: this.inf,
      zeroCount: this.zeros,
    };
  }
}

/**
 * Reads the tensors of one module in bounded chunks, decodes them to float64 and keeps each part's
 * element statistics on the way. Every part is accumulated on its first pass only, so a second read
 * of a part (never planned, but harmless) does not count twice.
 */
export class PartReader {
  bytesRead = 0;
  readonly chunk: number;
  private readonly stats = new Map<string, PartAccumulator>();
  private readonly done = new Set<string>();
  // A tensor that is not one byte range (a strided or compressed torch tensor) is read whole once:
  // every ranged read of it would otherwise gather the whole tensor again.
  private whole: { name: string; bytes: Uint8Array } | undefined;

  constructor(
    private readonly ckpt: Checkpoint,
    private readonly parts: Readonly<Record<string, string>>,
    chunk: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.chunk = Math.max(1, Math.floor(chunk ?? DEFAULT_CHUNK_ELEMENTS));
  }

  has(part: string): boolean {
    return this.parts[part] !== undefined;
  }

  tensor(part: string): TensorInfo {
    const name = this.parts[part];
    if (name === undefined) throw new Error(`module has no ${part} tensor`);
    return this.ckpt.tensor(name);
  }

  /** Streams a part in chunks of whole `align`-element rows: `visit(values, firstElement)`. */
  async stream(
    part: string,
    visit: (values: Float64Array, first: number) => void = () => undefined,
    align = 1,
  ): Promise<void> {
    const t = this.tensor(part);
    const n = t.parameterCount;
    const per = Math.max(align, Math.floor(this.chunk / align) * align);
    const acc = this.accumulator(part, t);
    for (let start = 0; start < n; start += per) {
      const values = await this.values(t, start, Math.min(per, n - start));
      acc?.add(values);
      visit(values, start);
    }
    this.done.add(part);
  }

  /** The whole part as float64: for small factors (Tucker cores, LoHa factors, vectors). */
  async readAll(part: string): Promise<Float64Array> {
    const t = this.tensor(part);
    const values = await this.values(t, 0, t.parameterCount);
    this.accumulator(part, t)?.add(values);
    this.done.add(part);
    return values;
  }

  /**
   * A row-major [rows, cols] part in column blocks: `visit(segments, c0)` gets the same columns of
   * every row side by side, `rows × width ≤ chunk` elements at a time.
   */
  async columnBlocks(
    part: string,
    rows: number,
    visit: (segments: Float64Array[], c0: number) => void,
  ): Promise<void> {
    const t = this.tensor(part);
    const cols = t.parameterCount / rows;
    const acc = this.accumulator(part, t);
    if (rows * cols <= this.chunk) {
      // One read: far fewer calls for the common small factor.
      const all = await this.values(t, 0, t.parameterCount);
      acc?.add(all);
      visit(
        Array.from({ length: rows }, (_, i) => all.subarray(i * cols, (i + 1) * cols)),
        0,
      );
    } else {
      const width = Math.max(1, Math.floor(this.chunk / rows));
      for (let c0 = 0; c0 < cols; c0 += width) {
        const w = Math.min(width, cols - c0);
        const segments: Float64Array[] = [];
        for (let i = 0; i < rows; i++) {
          const seg = await this.values(t, i * cols + c0, w);
          acc?.add(seg);
          segments.push(seg);
        }
        visit(segments, c0);
      }
    }
    this.done.add(part);
  }

  /** Reads the parts the math did not need (alpha, bias, magnitude, …) for their stats. */
  async readRest(): Promise<void> {
    for (const part of Object.keys(this.parts)) if (!this.done.has(part)) await this.stream(part);
  }

  /** Stats of every part read so far, whole or in part. */
  collected(): Record<string, PartStats> {
    const out: Record<string, PartStats> = {};
    for (const [part, acc] of this.stats) out[part] = acc.result();
    return out;
  }

  private accumulator(part: string, t: TensorInfo): PartAccumulator | undefined {
    if (this.done.has(part)) return undefined;
    let acc = this.stats.get(part);
    if (!acc) {
      acc = new PartAccumulator(t);
      this.stats.set(part, acc);
    }
    return acc;
  }

  private async values(t: TensorInfo, start: number, count: number): Promise<Float64Array> {
    this.signal?.throwIfAborted();
    if (!isDType(t.dtype) || UNDECODABLE.has(t.dtype))
      throw new UndecodableError(`${t.name}: ${t.dtype} values cannot be decoded`);
    const dtype: DType = t.dtype;
    const size = DTYPE_BITS[dtype] / 8;
    let bytes: Uint8Array;
    if (t.offset >= 0) {
      bytes = await this.ckpt.readTensorBytes(t, { start, count });
      this.bytesRead += bytes.byteLength;
    } else {
      if (this.whole?.name !== t.name) {
        const all = await this.ckpt.readTensorBytes(t);
        this.bytesRead += all.byteLength;
        this.whole = { name: t.name, bytes: all };
      }
      bytes = this.whole.bytes.subarray(start * size, (start + count) * size);
    }
    return decodeValues(bytes, dtype);
  }
}
