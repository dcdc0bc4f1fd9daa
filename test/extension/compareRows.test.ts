/** The Compare view's tables: every list of a report as paged text rows, with its full count. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiffReport } from '../../src/core/compare/types.js';
import { compareSections, differenceLines, sectionRows } from '../../src/extension/compareRows.js';

const side = (path: string) => ({
  path,
  format: 'safetensors',
  tensors: 3,
  family: 'peft',
  modules: 1,
});

function report(onlyA: number): DiffReport {
  return {
    a: side('/a/adapter_model.safetensors'),
    b: side('/b/kohya.safetensors'),
    differ: true,
    differences: ['keys-only-in-a', 'renamed', 'module-settings'],
    ignoreRenames: false,
    counts: {
      same: 1,
      onlyA,
      onlyB: 0,
      changed: 0,
      renamed: 1,
      modulePairs: 1,
      moduleChanges: 1,
      modulesOnlyA: 0,
      modulesOnlyB: 0,
      normsChanged: 0,
      normsNotComputed: 0,
    },
    truncated: false,
    keys: {
      same: 1,
      onlyA: Array.from({ length: onlyA }, (_, i) => ({
        name: `k${i}`,
        dtype: 'F32',
        shape: [2, i],
      })),
      onlyB: [],
      changed: [],
      renamed: [{ a: 'x.lora_A.weight', b: 'lora_x.lora_down.weight', via: 'module', module: 'x' }],
    },
    adapters: {
      familyA: 'peft',
      familyB: 'kohya',
      modulesA: 1,
      modulesB: 1,
      pairs: [{ a: 'x', b: 'lora_x', target: 'x', via: 'flattened-name' }],
      renamed: 1,
      onlyA: [],
      onlyB: [],
      changes: [{ a: 'x', b: 'lora_x', changes: [{ field: 'rank', a: 8, b: 4 }] }],
      notes: [],
    },
    norms: null,
  };
}

describe('compare rows', () => {
  it('lists every section with its full count and columns; norms only when computed', () => {
    const s = compareSections(report(1));
    assert.deepEqual(
      s.map((x) => [x.id, x.count]),
      [
        ['onlyA', 1],
        ['onlyB', 0],
        ['changed', 0],
        ['renamed', 1],
        ['modules', 1],
        ['moduleChanges', 1],
      ],
    );
    for (const x of s)
      for (let i = 0; i < x.count; i++) assert.equal(x.row(i).length, x.columns.length, x.id);
  });

  it('pages rows, clamped to the list', () => {
    const onlyA = compareSections(report(450)).find((x) => x.id === 'onlyA');
    assert.ok(onlyA);
    assert.equal(sectionRows(onlyA, 0, 200).length, 200);
    assert.deepEqual(
      sectionRows(onlyA, 400, 200)
        .map((r) => r[0])
        .slice(0, 2),
      ['k400', 'k401'],
    );
    assert.equal(sectionRows(onlyA, 400, 200).length, 50);
    assert.deepEqual(sectionRows(onlyA, 1000, 10), []);
    assert.deepEqual(sectionRows(onlyA, 3, 1)[0], ['k3', 'F32', '[2, 3]', '']);
  });

  it('says each difference in words, with its count', () => {
    assert.deepEqual(differenceLines(report(3)), [
      '3 keys only in A',
      '1 key renamed',
      '1 module with another rank, alpha or scale',
    ]);
    const changes = compareSections(report(0)).find((x) => x.id === 'moduleChanges');
    assert.deepEqual(changes?.row(0), ['x', 'lora_x', 'rank 8 → 4']);
  });
});
