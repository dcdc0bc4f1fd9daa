import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArchitectureComponent, ModelDims } from '../../../../src/core/model/types.js';
import { factsOf, fixtures, recognizeAll, type Fixture } from './kit.js';

function only(fx: Fixture, withConfig: boolean): ArchitectureComponent {
  const parts = recognizeAll(factsOf(fx.tensors, withConfig ? fx.config : null));
  assert.equal(parts.length, 1, `${fx.file}: ${parts.map((p) => p.family).join(', ')}`);
  const [c] = parts;
  assert.ok(c);
  return c;
}

function common(fx: Fixture, c: ArchitectureComponent): void {
  const e = fx.expected;
  assert.equal(c.kind, e.kind);
  assert.equal(c.prefix, e.prefix);
  assert.equal(c.tensorCount, e.tensorCount, 'tensorCount');
  assert.equal(c.parameterCount, e.parameterCount, 'parameterCount');
  assert.ok(c.evidence.length > 0);
  for (const ev of c.evidence)
    assert.ok(ev.claim.length > 0 && !ev.claim.includes('undefined'), ev.claim);
}

describe('LLM recognisers: transformers-made key lists', () => {
  const all = fixtures();
  it('has the fixtures', () => assert.ok(all.length >= 20));
  for (const fx of all) {
    it(`${fx.file}: names and shapes alone`, () => {
      const c = only(fx, false);
      common(fx, c);
      assert.equal(c.family, fx.expected.fromShapes.family);
      assert.equal(c.variant, fx.expected.fromShapes.variant);
      // Every dim the shapes determine is exact; the rest is null with a reason.
      assert.deepEqual(c.dims, fx.expected.fromShapes.dims);
      for (const [k, v] of Object.entries(c.dims) as [keyof ModelDims, unknown][]) {
        if (v === null) assert.ok((c.undetermined[k] ?? '').length > 0, `${k} has no reason`);
        else assert.equal(c.undetermined[k], undefined, `${k} has a reason but a value`);
      }
    });
    it(`${fx.file}: with config.json`, () => {
      const c = only(fx, true);
      common(fx, c);
      assert.equal(c.family, fx.expected.family);
      assert.equal(c.variant, fx.expected.variant);
      assert.deepEqual(c.dims, fx.expected.dims);
      assert.deepEqual(c.undetermined, {});
      // The config agrees with these files: no disagreement sentence.
      const bad = c.evidence.filter((e) => / but | not \d+ heads/.test(e.claim));
      assert.deepEqual(bad, []);
    });
  }
});
