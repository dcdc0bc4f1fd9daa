import { noNorm, product, type DeltaFn, type DeltaResult } from './delta.js';
import { gramOfColumns, gramOfRows } from './gram.js';
import { traceOfProduct, tuckerSquaredNorm } from './linalg.js';
import type { PartReader } from './partReader.js';

const DEFAULT_MAX_PRODUCT = 16 * 1024 * 1024;

/** ‖W‖_F of a stored full matrix, streamed; NaN/Inf propagate so the caller can report them. */
export async function fullNorm(reader: PartReader, part: string): Promise<number> {
  let squared = 0;
  await reader.stream(part, (v) => {
    for (let i = 0; i < v.length; i++) squared += (v[i] as number) ** 2;
  });
  return Math.sqrt(squared);
}

/**
 * LoKr: ΔW = kron(W1, W2)·scale and ‖kron(W1, W2)‖_F = ‖W1‖_F·‖W2‖_F, each factor full, a low-rank
 * pair (a [out, r] · b [r, in]) or, for W2, a Tucker conv (t2 [r, r, k, k] between a [r, out], b [r, in]).
 */
export const lokrDelta: DeltaFn = async (reader) => {
  const w1 = await lokrFactorNorm(reader, '1');
  if (typeof w1 === 'string') return noNorm(w1);
  const w2 = await lokrFactorNorm(reader, '2');
  if (typeof w2 === 'string') return noNorm(w2);
  return { normUnscaled: w1 * w2 };
};

async function lokrFactorNorm(reader: PartReader, i: '1' | '2'): Promise<number | string> {
  if (reader.has(`lokr_w${i}`)) return fullNorm(reader, `lokr_w${i}`);
  const a = `lokr_w${i}_a`;
  const b = `lokr_w${i}_b`;
  if (!reader.has(a) || !reader.has(b)) return `LoKr factor w${i} is missing`;
  const as = reader.tensor(a).shape;
  if (reader.has(`lokr_t${i}`)) {
    const ts = reader.tensor(`lokr_t${i}`).shape;
    const [r1, r2] = ts;
    if (r1 === undefined || r2 === undefined || as[0] !== r1 || reader.tensor(b).shape[0] !== r2)
      return `lokr_t${i} [${ts.join(', ')}] does not join w${i}_a and w${i}_b`;
    const gu = await gramOfRows(reader, a, r1);
    const gd = await gramOfRows(reader, b, r2);
    const core = await reader.readAll(`lokr_t${i}`);
    return Math.sqrt(Math.max(0, tuckerSquaredNorm(gu, gd, core, r1, r2, product(ts.slice(2)))));
  }
  const r = as[1];
  if (as.length !== 2 || r === undefined || reader.tensor(b).shape[0] !== r)
    return `lokr_w${i}_a / _b do not share a rank`;
  const ga = await gramOfColumns(reader, a, r);
  const gb = await gramOfRows(reader, b, r);
  return Math.sqrt(Math.max(0, traceOfProduct(ga, gb)));
}

/** One Hadamard factor as left [out, r] · right [r, n] matrices, one left per kernel position. */
interface HadaFactor {
  readonly lefts: Float64Array[];
  readonly right: Float64Array;
  readonly r: number;
  readonly out: number;
  readonly n: number;
}

/**
 * LoHa: ΔW = (w1a·w1b) ⊙ (w2a·w2b)·scale. A Hadamard product of two rank-r matrices has rank up to
 * r², so no r×r shortcut: the product is formed one output row at a time (memory O(in)), and only
 * when out×in is small enough to be worth the CPU.
 */
export const lohaDelta: DeltaFn = async (reader, _m, options) => {
  const limit = options.maxProductElements ?? DEFAULT_MAX_PRODUCT;
  const size = lohaSize(reader);
  if (typeof size === 'string') return noNorm(size);
  if (size > limit)
    return noNorm(
      `LoHa delta has ${size.toLocaleString('en-US')} elements, over the ${limit.toLocaleString('en-US')} formed for its norm`,
    );
  const f1 = await hadaFactor(reader, '1');
  const f2 = await hadaFactor(reader, '2');
  if (typeof f1 === 'string') return noNorm(f1);
  if (typeof f2 === 'string') return noNorm(f2);
  if (f1.out !== f2.out || f1.n !== f2.n || f1.lefts.length !== f2.lefts.length)
    return noNorm('hada_w1 and hada_w2 products differ in shape');
  let squared = 0;
  const row1 = new Float64Array(f1.n);
  const row2 = new Float64Array(f1.n);
  for (let k = 0; k < f1.lefts.length; k++)
    for (let p = 0; p < f1.out; p++) {
      productRow(f1, k, p, row1);
      productRow(f2, k, p, row2);
      for (let q = 0; q < f1.n; q++) squared += ((row1[q] as number) * (row2[q] as number)) ** 2;
    }
  return { normUnscaled: Math.sqrt(squared) } satisfies DeltaResult;
};

/** Elements of ΔW, from the shapes alone, so an oversized module reads nothing. */
function lohaSize(reader: PartReader): number | string {
  const a = reader.tensor('hada_w1_a').shape;
  const b = reader.tensor('hada_w1_b').shape;
  if (a.length !== 2 || b.length < 2) return 'hada_w1_a / hada_w1_b are not matrices';
  const t = reader.has('hada_t1') ? reader.tensor('hada_t1').shape : undefined;
  // Tucker: a [r, out], b [r, in], t [r, r, k…]; else a [out, r], b [r, in·k·k].
  return t
    ? (a[1] ?? 0) * (b[1] ?? 0) * product(t.slice(2))
    : (a[0] ?? 0) * (product(b) / (b[0] ?? 1));
}

async function hadaFactor(reader: PartReader, i: '1' | '2'): Promise<HadaFactor | string> {
  const a = await reader.readAll(`hada_w${i}_a`);
  const right = await reader.readAll(`hada_w${i}_b`);
  const as = reader.tensor(`hada_w${i}_a`).shape;
  const bs = reader.tensor(`hada_w${i}_b`).shape;
  if (!reader.has(`hada_t${i}`)) {
    const [out, r] = as;
    if (out === undefined || r === undefined || bs[0] !== r) return `hada_w${i} ranks differ`;
    return { lefts: [a], right, r, out, n: right.length / r };
  }
  // Tucker: left_k = aᵀ·t[:, :, k] for a [r1, out], t [r1, r2, k…], right b [r2, in].
  const ts = reader.tensor(`hada_t${i}`).shape;
  const t = await reader.readAll(`hada_t${i}`);
  const [r1, r2] = ts;
  const out = as[1];
  if (r1 === undefined || r2 === undefined || out === undefined || as[0] !== r1 || bs[0] !== r2)
    return `hada_t${i} [${ts.join(', ')}] does not join hada_w${i}_a and hada_w${i}_b`;
  const kk = product(ts.slice(2));
  const lefts: Float64Array[] = [];
  for (let k = 0; k < kk; k++) {
    const left = new Float64Array(out * r2);
    for (let p = 0; p < out; p++)
      for (let j = 0; j < r2; j++) {
        let s = 0;
        for (let i1 = 0; i1 < r1; i1++)
          s += (a[i1 * out + p] as number) * (t[(i1 * r2 + j) * kk + k] as number);
        left[p * r2 + j] = s;
      }
    lefts.push(left);
  }
  return { lefts, right, r: r2, out, n: right.length / r2 };
}

/** Row p of left_k · right into `row`. */
function productRow(f: HadaFactor, k: number, p: number, row: Float64Array): void {
  row.fill(0);
  const left = f.lefts[k] as Float64Array;
  for (let i = 0; i < f.r; i++) {
    const x = left[p * f.r + i] as number;
    if (x === 0) continue;
    const off = i * f.n;
    for (let q = 0; q < f.n; q++) row[q] = (row[q] as number) + x * (f.right[off + q] as number);
  }
}
