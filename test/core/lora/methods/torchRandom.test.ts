/**
 * torch's CPU randperm, bit for bit, against permutations torch itself wrote
 * (scripts/fixtures/methods/torch_random.py → test/fixtures/methods/torch-random.json).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  RANDPERM_INSIDE_OUT_FROM,
  torchRandpermPrefix,
  torchSeed32,
} from '../../../../src/core/lora/methods/torchRandom.js';

interface Recorded {
  readonly insideOutFrom: number;
  readonly full: readonly { n: number; seed: number; perm: number[] }[];
  readonly prefix: readonly { n: number; seed: number; first: number[] }[];
}

const REC = JSON.parse(readFileSync('test/fixtures/methods/torch-random.json', 'utf8')) as Recorded;

describe('torch CPU randperm', () => {
  it('switches algorithms where torch does', () => {
    assert.equal(RANDPERM_INSIDE_OUT_FROM, REC.insideOutFrom);
  });

  it('wraps seeds to 32 bits like manual_seed', () => {
    assert.equal(torchSeed32(-1), 2 ** 32 - 1);
    assert.equal(torchSeed32(2 ** 32 + 5), 5);
    assert.equal(torchSeed32(1.5), null);
  });

  for (const c of REC.full)
    it(`whole permutation n=${c.n} seed=${c.seed}`, () => {
      // A seed beyond 2⁵³ reaches JSON rounded, so its low 32 bits are unknown: refused, not guessed.
      if (!Number.isSafeInteger(c.seed))
        assert.throws(() => torchRandpermPrefix(c.n, c.n, c.seed), /not a safe integer/);
      else assert.deepEqual(Array.from(torchRandpermPrefix(c.n, c.n + 3, c.seed)), c.perm);
    });

  for (const c of REC.prefix)
    it(`first ${c.first.length} of n=${c.n} seed=${c.seed}`, () => {
      assert.deepEqual(Array.from(torchRandpermPrefix(c.n, c.first.length, c.seed)), c.first);
    });

  it('refuses sizes it cannot draw exactly', () => {
    assert.throws(() => torchRandpermPrefix(2 ** 36, 4, 0), RangeError);
    assert.throws(() => torchRandpermPrefix(10, 4, Number.NaN), RangeError);
  });
});
