/**
 * The unnormalised inverse DFT y[a] = Σₖ x[k]·e^{+2πi·a·k/n} of one complex vector, for any n: radix 2
 * when n is a power of two, Bluestein's chirp convolution (three power-of-two FFTs) otherwise. Used by
 * FourierFT, whose ΔW is the real part of a 2-D inverse DFT.
 */

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** In-place iterative radix-2 FFT of length re.length (a power of two); sign +1 is the inverse. */
class Radix2 {
  private readonly rev: Uint32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;

  constructor(readonly n: number) {
    const bits = Math.round(Math.log2(n));
    this.rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    this.cos = new Float64Array(n / 2);
    this.sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
  }

  run(re: Float64Array, im: Float64Array, sign: 1 | -1): void {
    const n = this.n;
    for (let i = 0; i < n; i++) {
      const j = this.rev[i] as number;
      if (j <= i) continue;
      const tr = re[i] as number;
      re[i] = re[j] as number;
      re[j] = tr;
      const ti = im[i] as number;
      im[i] = im[j] as number;
      im[j] = ti;
    }
    for (let size = 2; size <= n; size *= 2) {
      const half = size / 2;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = this.cos[k * step] as number;
          const wi = sign * (this.sin[k * step] as number);
          const p = start + k;
          const q = p + half;
          const xr = (re[q] as number) * wr - (im[q] as number) * wi;
          const xi = (re[q] as number) * wi + (im[q] as number) * wr;
          re[q] = (re[p] as number) - xr;
          im[q] = (im[p] as number) - xi;
          re[p] = (re[p] as number) + xr;
          im[p] = (im[p] as number) + xi;
        }
      }
    }
  }
}

/** The inverse DFT of one length, tables built once and reused for every vector. */
export class InverseDft {
  private readonly radix: Radix2;
  /** Bluestein: the chirp e^{iπm²/n} and the FFT of its conjugate, padded to radix.n. */
  private readonly chirp: { re: Float64Array; im: Float64Array } | null = null;
  private readonly kernel: { re: Float64Array; im: Float64Array } | null = null;
  private readonly work: { re: Float64Array; im: Float64Array };

  constructor(readonly n: number) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`DFT length ${n}`);
    if (isPowerOfTwo(n)) {
      this.radix = new Radix2(n);
      this.work = { re: new Float64Array(0), im: new Float64Array(0) };
      return;
    }
    let size = 1;
    while (size < 2 * n - 1) size *= 2;
    this.radix = new Radix2(size);
    const chirp = { re: new Float64Array(n), im: new Float64Array(n) };
    for (let m = 0; m < n; m++) {
      // m² mod 2n keeps the angle exact for large m.
      const angle = (Math.PI * ((m * m) % (2 * n))) / n;
      chirp.re[m] = Math.cos(angle);
      chirp.im[m] = Math.sin(angle);
    }
    const kernel = { re: new Float64Array(size), im: new Float64Array(size) };
    for (let m = 0; m < n; m++) {
      kernel.re[m] = chirp.re[m] as number;
      kernel.im[m] = -(chirp.im[m] as number);
      if (m > 0) {
        kernel.re[size - m] = chirp.re[m] as number;
        kernel.im[size - m] = -(chirp.im[m] as number);
      }
    }
    this.radix.run(kernel.re, kernel.im, -1);
    this.chirp = chirp;
    this.kernel = kernel;
    this.work = { re: new Float64Array(size), im: new Float64Array(size) };
  }

  /** Replaces (re, im), length n, by its unnormalised inverse DFT. */
  run(re: Float64Array, im: Float64Array): void {
    if (!this.chirp || !this.kernel) {
      this.radix.run(re, im, 1);
      return;
    }
    // y[a] = c[a] · Σₖ (x[k]·c[k]) · conj(c[a − k]), c[m] = e^{iπm²/n}: a convolution.
    const { chirp, kernel, work } = this;
    const size = this.radix.n;
    work.re.fill(0);
    work.im.fill(0);
    for (let k = 0; k < this.n; k++) {
      const cr = chirp.re[k] as number;
      const ci = chirp.im[k] as number;
      work.re[k] = (re[k] as number) * cr - (im[k] as number) * ci;
      work.im[k] = (re[k] as number) * ci + (im[k] as number) * cr;
    }
    this.radix.run(work.re, work.im, -1);
    for (let i = 0; i < size; i++) {
      const ar = work.re[i] as number;
      const ai = work.im[i] as number;
      work.re[i] = ar * (kernel.re[i] as number) - ai * (kernel.im[i] as number);
      work.im[i] = ar * (kernel.im[i] as number) + ai * (kernel.re[i] as number);
    }
    this.radix.run(work.re, work.im, 1);
    for (let a = 0; a < this.n; a++) {
      const vr = (work.re[a] as number) / size;
      const vi = (work.im[a] as number) / size;
      const cr = chirp.re[a] as number;
      const ci = chirp.im[a] as number;
      re[a] = vr * cr - vi * ci;
      im[a] = vr * ci + vi * cr;
    }
  }
}
