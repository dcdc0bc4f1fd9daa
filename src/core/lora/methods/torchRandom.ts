/**
 * torch's CPU random numbers, bit for bit, for the methods that save only coefficients and let PEFT
 * regenerate their positions (FourierFT, WaveFT: `torch.randperm(out·in, generator=
 * torch.Generator().manual_seed(seed))[:n]`). Established against torch 2.x (see
 * scripts/fixtures/methods/torch_random.py and test/core/lora/methods/torchRandom.test.ts):
 * - `manual_seed(s)` seeds a 32-bit Mersenne Twister (mt19937) with the low 32 bits of s (negative
 *   seeds wrap modulo 2⁶⁴ first, so -1 seeds 0xffffffff);
 * - below RANDPERM_INSIDE_OUT_FROM, randperm starts from 0…n−1 and for i = 0…n−2 swaps r[i] with
 *   r[i + (u32 % (n − i))];
 * - from RANDPERM_INSIDE_OUT_FROM on (⌊(2³²−1)/20⌋), it runs the "inside-out" Fisher–Yates: for
 *   i = 0…n−1, z = u64 % (i + 1), r[i] = r[z], r[z] = i, where u64 = (first u32 << 32) | second u32.
 */

const N = 624;
const M = 397;
const TWO32 = 2 ** 32;

/** n from which torch's CPU randperm switches to the inside-out shuffle with 64-bit draws. */
export const RANDPERM_INSIDE_OUT_FROM = Math.floor((TWO32 - 1) / 20);

/** The 32-bit seed torch's mt19937 receives for `manual_seed(seed)`; null for a non-integer. */
export function torchSeed32(seed: number): number | null {
  if (!Number.isSafeInteger(seed)) return null;
  return ((seed % TWO32) + TWO32) % TWO32;
}

/** torch.Generator() on the CPU after manual_seed(seed): the mt19937 stream. */
export class TorchCpuGenerator {
  private readonly state = new Uint32Array(N);
  /** The tempered outputs of the current state, handed out in order. */
  private readonly block = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    const s = torchSeed32(seed);
    if (s === null) throw new RangeError(`torch seed ${seed} is not a safe integer`);
    this.state[0] = s;
    for (let i = 1; i < N; i++) {
      const prev = this.state[i - 1] as number;
      this.state[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
  }

  /** The next 32-bit output (torch's `random()`), as a number in [0, 2³²). */
  nextUint32(): number {
    if (this.index >= N) this.refill();
    return this.block[this.index++] as number;
  }

  /** (hi·2³² + lo) mod m for torch's `random64()`, exact for m < 2³⁶ without BigInt. */
  nextUint64Mod(m: number): number {
    const hi = this.nextUint32();
    const lo = this.nextUint32();
    // hi·2³² mod m in two 2¹⁶ steps keeps every intermediate below 2⁵³.
    const a = hi < m ? hi : hi % m;
    return (((a * 65536) % m) * 65536 + lo) % m;
  }

  /** One mt19937 twist, then the tempering of all 624 words. */
  private refill(): void {
    const s = this.state;
    for (let k = 0; k < N; k++) {
      const next = k + 1 < N ? k + 1 : 0;
      const far = k + M < N ? k + M : k + M - N;
      const y = ((s[k] as number) & 0x80000000) | ((s[next] as number) & 0x7fffffff);
      s[k] = (s[far] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    const b = this.block;
    for (let k = 0; k < N; k++) {
      let y = s[k] as number;
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      b[k] = y;
    }
    this.index = 0;
  }
}

/**
 * The first `k` entries of `torch.randperm(n, generator=torch.Generator().manual_seed(seed))`,
 * without building the whole permutation: O(k) memory, O(k) draws below the switch, O(n) above it.
 */
export function torchRandpermPrefix(n: number, k: number, seed: number): Float64Array {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 36)
    throw new RangeError(`randperm size ${n} is out of range`);
  const count = Math.max(0, Math.min(k, n));
  const gen = new TorchCpuGenerator(seed);
  return n < RANDPERM_INSIDE_OUT_FROM ? swapPrefix(n, count, gen) : insideOutPrefix(n, count, gen);
}

/** r[i] ↔ r[i + u32 % (n − i)]: after step i, r[i] is final, so k steps and a sparse map suffice. */
function swapPrefix(n: number, k: number, gen: TorchCpuGenerator): Float64Array {
  const out = new Float64Array(k);
  const moved = new Map<number, number>();
  const valueAt = (i: number): number => moved.get(i) ?? i;
  for (let i = 0; i < k; i++) {
    if (i === n - 1) {
      out[i] = valueAt(i); // the last entry takes no draw
      break;
    }
    const j = i + (gen.nextUint32() % (n - i));
    const vi = valueAt(i);
    out[i] = valueAt(j);
    moved.set(j, vi);
    moved.delete(i);
  }
  return out;
}

/** r[i] = r[z]; r[z] = i for every i: only the first k slots are kept, but all n draws are made. */
function insideOutPrefix(n: number, k: number, gen: TorchCpuGenerator): Float64Array {
  const out = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const z = gen.nextUint64Mod(i + 1);
    if (i < k) out[i] = out[z] as number;
    if (z < k) out[z] = i;
  }
  return out;
}

const CACHE_LIMIT = 16;
const cache = new Map<string, Float64Array>();

/**
 * torchRandpermPrefix, remembered: PEFT seeds every module alike, so modules of one shape share their
 * positions (and a size above the switch costs seconds, once).
 */
export function cachedRandpermPrefix(n: number, k: number, seed: number): Float64Array {
  const key = `${n}:${k}:${seed}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = torchRandpermPrefix(n, k, seed);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(key, hit);
  }
  return hit;
}
