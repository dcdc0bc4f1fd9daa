/** Helpers for the stats tests: in-memory adapters, seeded values and a slow dense reference. */
import assert from 'node:assert/strict';
import {
  CountingByteSource,
  decodeValues,
  encodeFloats,
  MemoryByteSource,
  openCheckpoint,
  type Checkpoint,
  type CheckpointInfo,
  type DType,
  type PlainValue,
  type TensorInfo,
} from '../../../../src/core/formats/index.js';
import {
  analyzeLora,
  type LoraAnalysis,
  type LoraModule,
} from '../../../../src/core/lora/index.js';
import { buildSafetensors } from '../../../helpers/safetensorsBuilder.js';

/** Deterministic values in [-0.5, 0.5) (mulberry32): the same test data on every run. */
export function seeded(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  });
}

export interface MemTensor {
  readonly name: string;
  readonly shape: number[];
  readonly values: readonly number[];
  readonly dtype?: 'F32' | 'F16' | 'BF16' | 'F64';
}

function bytesOf(t: MemTensor): Uint8Array {
  const dtype = t.dtype ?? 'F32';
  if (dtype !== 'F64') return encodeFloats(t.values, dtype);
  const out = new Uint8Array(t.values.length * 8);
  const dv = new DataView(out.buffer);
  t.values.forEach((v, i) => dv.setFloat64(i * 8, v, true));
  return out;
}

export interface MemAdapter {
  readonly ckpt: Checkpoint;
  readonly source: CountingByteSource;
  readonly analysis: LoraAnalysis;
}

/** Header facts only, so side configs can be added the way openPath adds adapter_config.json. */
function infoOf(c: Checkpoint, configs?: Record<string, PlainValue>): CheckpointInfo {
  return {
    format: c.format,
    name: c.name,
    fileSize: c.fileSize,
    headerByteLength: c.headerByteLength,
    tensors: c.tensors,
    metadata: c.metadata,
    parameterCount: c.parameterCount,
    dataBytes: c.dataBytes,
    dtypes: c.dtypes,
    ...((configs ?? c.configs) ? { configs: configs ?? c.configs } : {}),
  };
}

/** Reads `.alpha` scalars the way the extension does. */
export function scalarReader(ckpt: Checkpoint): (name: string) => Promise<number> {
  return async (name) => (await tensorValues(ckpt, name))[0] ?? NaN;
}

export async function analyzeCheckpoint(
  ckpt: Checkpoint,
  configs?: Record<string, PlainValue>,
): Promise<LoraAnalysis> {
  return analyzeLora(infoOf(ckpt, configs), { readScalar: scalarReader(ckpt) });
}

/** A safetensors adapter in memory behind a byte counter, analysed. */
export async function memAdapter(
  tensors: readonly MemTensor[],
  options: { configs?: Record<string, PlainValue>; metadata?: Record<string, string> } = {},
): Promise<MemAdapter> {
  const bytes = buildSafetensors(
    tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype ?? 'F32',
      shape: t.shape,
      data: bytesOf(t),
    })),
    options.metadata,
  );
  const source = new CountingByteSource(new MemoryByteSource(bytes, 'adapter.safetensors'));
  const ckpt = await openCheckpoint(source);
  const analysis = await analyzeCheckpoint(ckpt, options.configs);
  source.bytesRead = 0;
  source.reads = 0;
  return { ckpt, source, analysis };
}

export async function tensorValues(ckpt: Checkpoint, name: string): Promise<Float64Array> {
  const t = ckpt.tensor(name);
  return decodeValues(await ckpt.readTensorBytes(t), t.dtype as DType);
}

/** a [n, m] · b [m, p], the plain triple loop. */
export function matmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n: number,
  m: number,
  p: number,
) {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < p; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += (a[i * m + k] as number) * (b[k * p + j] as number);
      out[i * p + j] = s;
    }
  return out;
}

export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j] as number;
  return out;
}

export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) ** 2;
  return Math.sqrt(s);
}

/** ‖B·A‖_F the slow way: B·A formed in float64 (conv factors as their matrix views). */
export async function denseLowRankNorm(ckpt: Checkpoint, m: LoraModule): Promise<number> {
  const down = ckpt.tensor(m.parts['down'] as string);
  const up = ckpt.tensor(m.parts['up'] as string);
  const a = await tensorValues(ckpt, down.name);
  const b = await tensorValues(ckpt, up.name);
  if (m.orientation === 'transposed') {
    const [inF, r] = down.shape as [number, number];
    const out = up.shape[1] as number;
    return frobenius(matmul(transpose(b, r, out), transpose(a, inF, r), out, r, inF));
  }
  const r = down.shape[0] as number;
  const n = down.parameterCount / r;
  const out = up.shape[0] as number;
  return frobenius(matmul(b, a, out, r, n));
}

export function assertClose(
  actual: number | null | undefined,
  expected: number,
  rel: number,
  what: string,
) {
  assert.ok(typeof actual === 'number', `${what}: got ${String(actual)}`);
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(
    err <= rel,
    `${what}: ${actual} vs ${expected} (relative error ${err.toExponential(2)})`,
  );
}

export function moduleNamed(a: LoraAnalysis, name: string): LoraModule {
  const m = a.modules.find((x) => x.name === name);
  assert.ok(m, `no module ${name} in ${a.modules.map((x) => x.name).join(', ')}`);
  return m;
}

export interface ReadLog {
  calls: number;
  /** Largest element count one ranged read asked for; whole-tensor reads are counted apart. */
  maxCount: number;
  wholeReads: number;
}

/**
 * The same checkpoint with its reads logged; `onRead` runs before each. `strided` makes every tensor
 * look like a torch view that is not one byte range (offset -1), as the torch reader reports them.
 */
export function loggedCheckpoint(
  inner: Checkpoint,
  options: { onRead?: (log: ReadLog) => void; strided?: boolean } = {},
): { ckpt: Checkpoint; log: ReadLog } {
  const log: ReadLog = { calls: 0, maxCount: 0, wholeReads: 0 };
  const view = (t: TensorInfo): TensorInfo => (options.strided ? { ...t, offset: -1 } : t);
  const ckpt: Checkpoint = {
    ...infoOf(inner),
    tensors: inner.tensors.map(view),
    tensor: (name) => view(inner.tensor(name)),
    readTensorBytes: async (t, range) => {
      log.calls++;
      if (range) log.maxCount = Math.max(log.maxCount, range.count);
      else log.wholeReads++;
      options.onRead?.(log);
      const own = inner.tensor(t.name);
      if (options.strided && range) throw new Error('a strided tensor is read whole');
      return inner.readTensorBytes(own, range);
    },
    close: () => inner.close(),
  };
  return { ckpt, log };
}
