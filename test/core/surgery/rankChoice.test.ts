/** Rank rules: the smallest rank that meets the rule, kohya's own choice, and the named bounds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseRank, retainedEnergy, validateRule } from '../../../src/core/surgery/rankChoice.js';

const S = [3, 2, 1, 0.5, 0.1];

describe('chooseRank', () => {
  it('energy keeps the smallest rank retaining F of ‖ΔW‖_F; kohya keeps one more', () => {
    // Shares of σ²: 9/14.26 = .631, 13/14.26 = .912, 14/14.26 = .982 …
    assert.equal(retainedEnergy(S, 2), Math.sqrt(13 / 14.26));
    assert.equal(chooseRank(S, { kind: 'energy', energy: 0.9 }, 5), 2);
    assert.equal(chooseRank(S, { kind: 'energy', energy: 0.9 }, 5, true), 3);
    assert.equal(chooseRank(S, { kind: 'energy', energy: 1 }, 5), 5);
    assert.equal(chooseRank(S, { kind: 'energy', energy: 0.5 }, 5), 1);
  });

  it('ratio keeps σ ≥ σmax/R; kohya counts σ > σmax/R and adds one', () => {
    assert.equal(chooseRank(S, { kind: 'ratio', ratio: 3 }, 5), 3);
    assert.equal(chooseRank(S, { kind: 'ratio', ratio: 3 }, 5, true), 3);
    assert.equal(chooseRank(S, { kind: 'ratio', ratio: 4 }, 5), 3);
    assert.equal(chooseRank(S, { kind: 'ratio', ratio: 4 }, 5, true), 4);
    assert.equal(chooseRank(S, { kind: 'ratio', ratio: 1 }, 5), 1);
  });

  it('never exceeds the module rank or --max-rank, never goes below 1', () => {
    assert.equal(chooseRank(S, { kind: 'rank', rank: 9 }, 5), 5);
    assert.equal(chooseRank(S, { kind: 'energy', energy: 1, maxRank: 2 }, 5), 2);
    assert.equal(chooseRank([0, 0], { kind: 'rank', rank: 2 }, 2), 1);
    assert.equal(chooseRank([1e-7], { kind: 'rank', rank: 2 }, 2, true), 1);
  });

  it('refuses bad rules by name', () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'none';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    assert.equal(
      code(() => validateRule({ kind: 'rank', rank: 0 })),
      'InvalidRank',
    );
    assert.equal(
      code(() => validateRule({ kind: 'rank', rank: 2.5 })),
      'InvalidRank',
    );
    assert.equal(
      code(() => validateRule({ kind: 'energy', energy: 0 })),
      'InvalidEnergy',
    );
    assert.equal(
      code(() => validateRule({ kind: 'energy', energy: 1.01 })),
      'InvalidEnergy',
    );
    assert.equal(
      code(() => validateRule({ kind: 'ratio', ratio: 0.9 })),
      'InvalidRatio',
    );
    assert.equal(
      code(() => validateRule({ kind: 'ratio', ratio: Infinity })),
      'InvalidRatio',
    );
    assert.equal(
      code(() => validateRule({ kind: 'energy', energy: 0.5, maxRank: -1 })),
      'InvalidRank',
    );
    assert.equal(
      code(() => validateRule({ kind: 'energy', energy: 1 })),
      'none',
    );
  });
});
