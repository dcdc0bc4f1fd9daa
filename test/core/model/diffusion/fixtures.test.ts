import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIFFUSION_RECOGNIZERS } from '../../../../src/core/model/diffusion/index.js';
import {
  EMPTY_DIMS,
  type ArchitectureComponent,
  type ModelDims,
} from '../../../../src/core/model/types.js';
import { factsOf, fixtures } from './kit.js';

const all = (facts: ReturnType<typeof factsOf>): ArchitectureComponent[] =>
  DIFFUSION_RECOGNIZERS.flatMap((r) => r.recognize(facts));

describe('diffusion recognisers: every fixture gives exactly its expected parts', () => {
  const list = fixtures();
  it('finds the 26 fixtures', () => assert.equal(list.length, 26));
  for (const fx of list) {
    it(fx.file, () => {
      const got = all(factsOf(fx.tensors));
      assert.deepEqual(
        got.map((c) => c.prefix).sort(),
        fx.expected.map((e) => e.prefix).sort(),
        'the same parts, by prefix',
      );
      for (const want of fx.expected) {
        const c = got.find((g) => g.prefix === want.prefix);
        assert.ok(c, want.prefix);
        const tag = `${fx.file} '${want.prefix}'`;
        assert.deepEqual(
          [c.family, c.variant, c.kind, c.tensorCount, c.parameterCount],
          [want.family, want.variant, want.kind, want.tensorCount, want.parameterCount],
          tag,
        );
        // Listed dims exact; every other one null, with a reason.
        for (const key of Object.keys(EMPTY_DIMS) as (keyof ModelDims)[]) {
          const expected = want.dims[key] ?? null;
          assert.equal(c.dims[key], expected, `${tag} ${key}`);
          if (expected === null) assert.ok(c.undetermined[key], `${tag} ${key}: a reason`);
          else assert.equal(c.undetermined[key], undefined, `${tag} ${key}: no reason when known`);
        }
        assert.ok(c.evidence.length >= 2, `${tag}: evidence`);
      }
      // Parts never overlap: together they cover at most the file.
      assert.ok(got.reduce((n, c) => n + c.tensorCount, 0) <= Object.keys(fx.tensors).length);
    });
  }
});
