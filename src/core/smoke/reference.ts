/**
 * The float64 reference that ORT's output is judged against (onnxruntime.md §16): the unmerged
 * forward `W·x + s·B·A·x` (DoRA: its merged weight) computed in JS on a subset of output features, the
 * tolerances by dtype, and the comparison. Also the seeded random batch.
 */

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
  readonly label: string;
}

/** Unit roundoff of float32: ORT computes in f32 whatever the stored dtype (we decode before feeding). */
const EPS32 = 2 ** -24;
/**
 * Allowance for f32 accumulation over K terms, in multiples of its expected size ε·√K·‖terms‖₂. A
 * wrong orientation or a swapped tensor is off by about ‖terms‖₂ itself, thousands of times more.
 */
const ROUNDING_SIGMAS = 8;

/** onnxruntime.md §16: the loosest tolerance among the dtypes involved; conv at least 1e-3. */
export function toleranceFor(dtypes: readonly string[], conv: boolean): Tolerance {
  let t: Tolerance = { rtol: 1e-4, atol: 1e-4, label: 'fp32' };
  if (dtypes.includes('F16')) t = { rtol: 1e-3, atol: 1e-3, label: 'fp16' };
  if (dtypes.includes('BF16')) t = { rtol: 1.6e-2, atol: 1e-3, label: 'bf16' };
  if (conv)
    t = { rtol: Math.max(t.rtol, 1e-3), atol: Math.max(t.atol, 1e-3), label: `${t.label} conv` };
  return t;
}

/** mulberry32: tiny, seeded, good enough for test inputs. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard-normal float32 values (Box–Muller) from a seeded generator. */
export function randomNormal(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Up to `max` evenly spaced indices in [0, n), always including the first and the last. */
export function spacedIndices(n: number, max = 64): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < max; i++) out.push(Math.round((i * (n - 1)) / (max - 1)));
  return [...new Set(out)];
}

/** Reference values on rows × `cols` (row-major), and the rounding allowance of each. */
export interface Reference {
  readonly cols: readonly number[];
  readonly values: Float64Array;
  readonly allowance: Float64Array;
}

export interface LinearInputs {
  readonly x: Float32Array;
  readonly batch: number;
  readonly inF: number;
  readonly outF: number;
  /** W as fed; `wStoredTransposed` says how to index it: [in, out] when true, else [out, in]. */
  readonly w: Float32Array;
  readonly wStoredTransposed: boolean;
  /** A [r, in], B [out, r] (standard orientation). */
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly r: number;
  readonly s: number;
  /** DoRA magnitude per output row: the reference is then the merged weight's forward. */
  readonly magnitude?: Float32Array;
}

/** Strides of W(o, i) in the fed array: [in, out] storage when transposed, else [out, in]. */
function weightStrides(p: LinearInputs): [number, number] {
  return p.wStoredTransposed ? [1, p.outF] : [p.inF, 1];
}

/** x·Aᵀ for every row: [batch, r] in float64, and the norm of each sum's terms. */
function lowRankActivations(p: LinearInputs): { xa: Float64Array; xaNorm: Float64Array } {
  // Plain locals in the hot loops: property loads through `p` cost more than the arithmetic.
  const { x, a, batch, r, inF } = p;
  const xa = new Float64Array(batch * r);
  const xaNorm = new Float64Array(batch * r);
  for (let n = 0; n < batch; n++)
    for (let k = 0; k < r; k++) {
      let acc = 0;
      let sq = 0;
      const xo = n * inF;
      const ao = k * inF;
      for (let i = 0; i < inF; i++) {
        const t = (x[xo + i] as number) * (a[ao + i] as number);
        acc += t;
        sq += t * t;
      }
      xa[n * r + k] = acc;
      xaNorm[n * r + k] = Math.sqrt(sq);
    }
  return { xa, xaNorm };
}

/**
 * Linear (and DoRA linear) reference: y[n, o] = Σᵢ W(o, i)·x[n, i] + s·Σₖ B[o, k]·(A·x)[n, k], with W
 * read in the orientation the *base format* gives, not the mapping's, so a wrong `transposed` shows.
 * DoRA: y = m[o]/‖W(o,:) + s·(B·A)(o,:)‖ · (the same sum), i.e. the merged weight's forward.
 */
export function referenceLinear(p: LinearInputs, cols: readonly number[]): Reference {
  const { xa, xaNorm } = lowRankActivations(p);
  const { x, w, b, batch, inF, r, s } = p;
  const [so, si] = weightStrides(p);
  const nc = cols.length;
  const values = new Float64Array(batch * nc);
  const allowance = new Float64Array(batch * nc);
  const rootK = Math.sqrt(inF + r);
  for (let c = 0; c < nc; c++) {
    const o = cols[c] as number;
    const f = p.magnitude ? doraFactor(p, o) : 1;
    const wo = o * so;
    for (let n = 0; n < batch; n++) {
      let acc = 0;
      let sq = 0;
      const xo = n * inF;
      for (let i = 0; i < inF; i++) {
        const t = (x[xo + i] as number) * (w[wo + i * si] as number);
        acc += t;
        sq += t * t;
      }
      let lora = 0;
      let loraSq = 0;
      for (let k = 0; k < r; k++) {
        const bk = b[o * r + k] as number;
        lora += bk * (xa[n * r + k] as number);
        loraSq += (bk * (xaNorm[n * r + k] as number)) ** 2;
      }
      values[n * nc + c] = f * (acc + s * lora);
      allowance[n * nc + c] =
        ROUNDING_SIGMAS * EPS32 * rootK * Math.abs(f) * Math.sqrt(sq + s * s * loraSq);
    }
  }
  return { cols, values, allowance };
}

/** m[o] / ‖W(o,:) + s·(B·A)(o,:)‖₂: PEFT's DoRA weight norm, per output row (onnxruntime.md §14). */
function doraFactor(p: LinearInputs, o: number): number {
  const { w, a, b, inF, r, s } = p;
  const [so, si] = weightStrides(p);
  let sq = 0;
  for (let i = 0; i < inF; i++) {
    let d = 0;
    for (let k = 0; k < r; k++) d += (b[o * r + k] as number) * (a[k * inF + i] as number);
    const v = (w[o * so + i * si] as number) + s * d;
    sq += v * v;
  }
  return (p.magnitude?.[o] as number) / Math.sqrt(sq);
}

export interface ConvInputs {
  /** x [batch, in, h, w]. */
  readonly x: Float32Array;
  readonly batch: number;
  readonly inC: number;
  readonly outC: number;
  readonly h: number;
  readonly wd: number;
  readonly kh: number;
  readonly kw: number;
  readonly padH: number;
  readonly padW: number;
  /** W [out, in, kh, kw], A [r, in, kh, kw], B [out, r]. */
  readonly w: Float32Array;
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly r: number;
  readonly s: number;
}

/** Same-size conv (stride 1, dilation 1): output [batch, out, h, wd] on the chosen output channels. */
export function referenceConv(p: ConvInputs, cols: readonly number[]): Reference {
  const plane = p.h * p.wd;
  const kk = p.kh * p.kw;
  const per = cols.length * plane;
  const values = new Float64Array(p.batch * per);
  const allowance = new Float64Array(p.batch * per);
  const rootK = Math.sqrt(p.inC * kk + p.r);
  // The A-branch for every rank channel first: [batch, r, h, wd].
  const xa = new Float64Array(p.batch * p.r * plane);
  const xaSq = new Float64Array(p.batch * p.r * plane);
  const conv = (kernel: Float32Array, ch: number, n: number, y: number, x0: number): number[] => {
    let acc = 0;
    let sq = 0;
    for (let i = 0; i < p.inC; i++)
      for (let dy = 0; dy < p.kh; dy++) {
        const yy = y + dy - p.padH;
        if (yy < 0 || yy >= p.h) continue;
        for (let dx = 0; dx < p.kw; dx++) {
          const xx = x0 + dx - p.padW;
          if (xx < 0 || xx >= p.wd) continue;
          const t =
            (p.x[((n * p.inC + i) * p.h + yy) * p.wd + xx] as number) *
            (kernel[(ch * p.inC + i) * kk + dy * p.kw + dx] as number);
          acc += t;
          sq += t * t;
        }
      }
    return [acc, sq];
  };
  for (let n = 0; n < p.batch; n++)
    for (let k = 0; k < p.r; k++)
      for (let y = 0; y < p.h; y++)
        for (let x = 0; x < p.wd; x++) {
          const [acc, sq] = conv(p.a, k, n, y, x) as [number, number];
          xa[(n * p.r + k) * plane + y * p.wd + x] = acc;
          xaSq[(n * p.r + k) * plane + y * p.wd + x] = sq;
        }
  cols.forEach((o, c) => {
    for (let n = 0; n < p.batch; n++)
      for (let y = 0; y < p.h; y++)
        for (let x = 0; x < p.wd; x++) {
          const [acc, sq] = conv(p.w, o, n, y, x) as [number, number];
          let lora = 0;
          let loraSq = 0;
          for (let k = 0; k < p.r; k++) {
            const at = (n * p.r + k) * plane + y * p.wd + x;
            const bk = p.b[o * p.r + k] as number;
            lora += bk * (xa[at] as number);
            loraSq += bk * bk * (xaSq[at] as number);
          }
          const at = n * per + c * plane + y * p.wd + x;
          values[at] = acc + p.s * lora;
          allowance[at] = ROUNDING_SIGMAS * EPS32 * rootK * Math.sqrt(sq + p.s * p.s * loraSq);
        }
  });
  return { cols, values, allowance };
}

export interface EmbeddingInputs {
  readonly ids: readonly number[];
  readonly dim: number;
  /** W [rows, dim], A [r, vocab], B [dim, r]. */
  readonly w: Float32Array;
  /** The row of W for each id (default: the id itself, W being the whole table). */
  readonly wids?: readonly number[];
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly vocab: number;
  readonly r: number;
  readonly s: number;
}

export function referenceEmbedding(p: EmbeddingInputs, cols: readonly number[]): Reference {
  const values = new Float64Array(p.ids.length * cols.length);
  const allowance = new Float64Array(p.ids.length * cols.length);
  p.ids.forEach((id, n) =>
    cols.forEach((o, c) => {
      let lora = 0;
      let sq = 0;
      for (let k = 0; k < p.r; k++) {
        const t = (p.a[k * p.vocab + id] as number) * (p.b[o * p.r + k] as number);
        lora += t;
        sq += t * t;
      }
      const row = p.wids?.[n] ?? id;
      values[n * cols.length + c] = (p.w[row * p.dim + o] as number) + p.s * lora;
      allowance[n * cols.length + c] =
        ROUNDING_SIGMAS *
        EPS32 *
        (Math.sqrt(p.r) * Math.abs(p.s) * Math.sqrt(sq) + Math.abs(p.s * lora));
    }),
  );
  return { cols, values, allowance };
}

export interface Comparison {
  readonly ok: boolean;
  readonly maxAbsErr: number;
  /** Largest err / allowed over the compared values (≤ 1 passes). */
  readonly worst: number;
  /** Flat index into the reference's values of the worst value. */
  readonly worstAt: number;
  readonly compared: number;
}

/**
 * Compares ORT's output `y` ([rows, features, plane], row-major) with the reference on its columns:
 * |y − ref| ≤ atol + rtol·|ref| + rounding allowance.
 */
export function compareToReference(
  y: Float32Array,
  features: number,
  plane: number,
  ref: Reference,
  tol: Tolerance,
): Comparison {
  const rows = ref.values.length / (ref.cols.length * plane);
  let maxAbsErr = 0;
  let worst = 0;
  let worstAt = 0;
  let finite = true;
  for (let n = 0; n < rows; n++)
    ref.cols.forEach((o, c) => {
      for (let q = 0; q < plane; q++) {
        const at = (n * ref.cols.length + c) * plane + q;
        const want = ref.values[at] as number;
        const got = y[(n * features + o) * plane + q] as number;
        const err = Math.abs(got - want);
        if (!Number.isFinite(err)) finite = false;
        const allowed = tol.atol + tol.rtol * Math.abs(want) + (ref.allowance[at] as number);
        if (err > maxAbsErr) maxAbsErr = err;
        if (err / allowed > worst || !Number.isFinite(err)) {
          worst = err / allowed;
          worstAt = at;
        }
      }
    });
  return {
    ok: finite && worst <= 1,
    maxAbsErr: finite ? maxAbsErr : Infinity,
    worst,
    worstAt,
    compared: ref.values.length,
  };
}

/** ‖v‖₂ in float64. */
export function norm2(v: Float32Array): number {
  let sq = 0;
  for (let i = 0; i < v.length; i++) sq += (v[i] as number) * (v[i] as number);
  return Math.sqrt(sq);
}

export function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}
