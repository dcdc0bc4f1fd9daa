/**
 * Byte-level mutations for the fuzzer: the usual bit flips and interesting values, plus the ones that
 * hurt container formats most: truncation, splices of another seed, repeated chunks and rewritten
 * little-endian length fields.
 */
export class Rng {
  constructor(private state: number) {}
  /** xorshift32: fast and reproducible from the seed. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a];
const INTERESTING_64: bigint[] = [
  0n,
  1n,
  7n,
  8n,
  0xffn,
  0xffffn,
  0x7fffffffn,
  0xffffffffn,
  1n << 32n,
  1n << 53n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
];
const TOKENS = [
  '"',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '-1',
  '1e999',
  '__proto__',
  '__metadata__',
  '"dtype"',
  '"F128"',
  '"data_offsets"',
  '[0,0]',
  'null',
  '\\u0000',
  '9007199254740993',
];

export function mutate(input: Uint8Array, rng: Rng, seeds: readonly Uint8Array[]): Uint8Array {
  let out: Uint8Array = input.slice();
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) out = mutateOnce(out, rng, seeds);
  return out;
}

function mutateOnce(b: Uint8Array, rng: Rng, seeds: readonly Uint8Array[]): Uint8Array {
  const len = b.length;
  const at = rng.int(Math.max(1, len));
  switch (rng.int(11)) {
    case 0: {
      if (len) b[at] = (b[at] as number) ^ (1 << rng.int(8));
      return b;
    }
    case 1: {
      if (len) b[at] = rng.pick(INTERESTING_8);
      return b;
    }
    case 2: {
      if (len) b[at] = rng.int(256);
      return b;
    }
    case 3:
      // Truncate.
      return b.slice(0, rng.int(len + 1));
    case 4: {
      // Rewrite a 64-bit little-endian field (the length prefixes of safetensors, GGUF, ZIP64).
      if (len < 8) return b;
      const pos = rng.int(3) === 0 ? 0 : rng.int(len - 7);
      new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(
        pos,
        rng.pick(INTERESTING_64),
        true,
      );
      return b;
    }
    case 5: {
      // Rewrite a 32-bit field (zip sizes and offsets, protobuf lengths, pickle lengths).
      if (len < 4) return b;
      new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(
        rng.int(len - 3),
        rng.pick([0, 1, 0x7fffffff, 0xffffffff, rng.next()]),
        true,
      );
      return b;
    }
    case 6: {
      // Delete a chunk.
      const n = 1 + rng.int(Math.min(64, len || 1));
      return concat(b.subarray(0, at), b.subarray(Math.min(len, at + n)));
    }
    case 7: {
      // Repeat a chunk.
      const n = 1 + rng.int(Math.min(64, len || 1));
      return concat(b.subarray(0, at), b.subarray(at, at + n), b.subarray(at));
    }
    case 8: {
      // Insert a token that means something to JSON or to our readers.
      const t = new TextEncoder().encode(rng.pick(TOKENS));
      return concat(b.subarray(0, at), t, b.subarray(at));
    }
    case 9: {
      // Splice in part of another seed.
      const other = rng.pick(seeds);
      const from = rng.int(other.length);
      const n = rng.int(Math.min(256, other.length - from) + 1);
      return concat(b.subarray(0, at), other.subarray(from, from + n), b.subarray(at + n));
    }
    default: {
      // Append garbage.
      const extra = new Uint8Array(1 + rng.int(32)).map(() => rng.int(256));
      return concat(b, extra);
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
