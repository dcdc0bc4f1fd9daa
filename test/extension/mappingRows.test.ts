// The Mapping tab's table in the host: order, filter, paging, selection and the shared path parts.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MappingTable, mappingOrder, sharedPathParts } from '../../src/extension/mappingRows.js';
import type { MappingRowDto } from '../../src/shared/protocol.js';

function row(
  module: string,
  target: string | null,
  level: MappingRowDto['level'] = 'high',
  confidence = 0.9,
): MappingRowDto {
  return {
    module,
    moduleTarget: module.replace(/^base_model\.model\./, ''),
    kind: 'LoRA',
    rank: 8,
    target,
    confidence,
    level,
    reason: 'same name',
    shapeCheck: 'exact',
    transposed: false,
    slice: null,
    source: 'matcher',
    alternatives: [],
  };
}

/** webview/ui/pathLabels.ts' sharedParts, as written there (split per path): the reference. */
function referenceShared(paths: readonly string[]): { prefix: string; suffix: string } {
  if (paths.length < 2) return { prefix: '', suffix: '' };
  const split = paths.map((p) => p.split('.'));
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length && split.every((s) => n < s.length - 1 && s[n] === first[n])) n++;
  const prefix = n > 0 ? `${first.slice(0, n).join('.')}.` : '';
  const suffix = paths.every((p) => p.endsWith('.weight') && p.length > prefix.length + 7)
    ? '.weight'
    : '';
  return { prefix, suffix };
}

const P = 'base_model.model.model.layers';

describe('MappingTable', () => {
  it('puts unmatched modules first, then the least sure', () => {
    const rows = [
      row(`${P}.1.q`, 'model.layers.1.q.weight', 'high', 0.99),
      row(`${P}.0.q`, 'model.layers.0.q.weight', 'high', 0.99),
      row(`${P}.2.q`, 'model.layers.2.q.weight', 'low', 0.3),
      row(`${P}.3.q`, null, 'low', 0),
      row(`${P}.4.q`, 'model.layers.4.q.weight', 'medium', 0.6),
      row(`${P}.5.q`, 'model.layers.5.q.weight', 'low', 0.2),
    ];
    const t = new MappingTable(rows);
    assert.deepEqual(
      t.rows(0, 10).rows.map((r) => r.module.slice(P.length + 1)),
      ['3.q', '5.q', '2.q', '4.q', '0.q', '1.q'],
    );
    assert.equal(mappingOrder(rows[3] as MappingRowDto, rows[0] as MappingRowDto) < 0, true);
    assert.deepEqual(t.allRows().length, 6);
  });

  it('filters on module or target, case-insensitive, and pages the filtered rows', () => {
    const rows = Array.from({ length: 250 }, (_, i) =>
      row(
        `${P}.${i}.self_attn.${i % 2 ? 'q_proj' : 'v_proj'}`,
        i % 5 ? `model.x.${i}.weight` : null,
      ),
    );
    const t = new MappingTable(rows);
    const v0 = t.state().version;
    const s = t.setQuery('Q_PROJ');
    assert.equal(s.rowCount, 125);
    assert.equal(s.total, 250);
    assert.ok(s.version > v0, 'a new filter is a new version');
    assert.ok(t.rows(0, 200).rows.every((r) => r.module.includes('q_proj')));
    // The target matches too; a match never spans the module and the target.
    assert.equal(t.setQuery('model.x.7.weight').rowCount, 1);
    assert.equal(t.setQuery('v_projmodel').rowCount, 0);
    t.setQuery('');
    const page = t.rows(200, 100);
    assert.equal(page.start, 200);
    assert.equal(page.rows.length, 50);
    assert.equal(t.rows(10_000, 100).rows.length, 0);
    assert.equal(t.rows(0, 0).rows.length, 0);
    assert.equal(page.state.rowCount, 250);
  });

  it('keeps the selection in range; a filter moves it to the top; a remap keeps the filter', () => {
    const rows = Array.from({ length: 10 }, (_, i) => row(`${P}.${i}.q`, `model.${i}.q.weight`));
    const t = new MappingTable(rows);
    assert.equal(t.select(7).selected, 7);
    assert.equal(t.select(99).selected, 9);
    assert.equal(t.select(-3).selected, 0);
    t.select(5);
    assert.equal(t.setQuery('q').selected, 0);
    t.select(8);
    const before = t.state().version;
    const after = t.replace(rows.slice(0, 3));
    assert.equal(after.query, 'q');
    assert.equal(after.selected, 2);
    assert.ok(after.version > before);
    assert.equal(t.indexOf(`${P}.1.q`), 1);
    assert.equal(t.indexOf('nope'), -1);
  });

  it("says once what the shown rows' paths share, as the webview's rule does", () => {
    const rows = [
      row(`${P}.0.self_attn.q_proj`, 'model.layers.0.self_attn.q_proj.weight'),
      row(`${P}.1.mlp.up_proj`, 'model.layers.1.mlp.up_proj.weight'),
      row(`${P}.1.mlp.down_proj`, null),
    ];
    const t = new MappingTable(rows);
    assert.deepEqual(t.state().shared, {
      module: { prefix: 'model.layers.', suffix: '' },
      target: { prefix: 'model.layers.', suffix: '.weight' },
    });
    // Filtered to layer 1, the shared part grows; one target alone shares nothing.
    assert.deepEqual(t.setQuery('layers.1.').shared, {
      module: { prefix: 'model.layers.1.mlp.', suffix: '' },
      target: { prefix: '', suffix: '' },
    });
  });

  it('sharedPathParts agrees with the per-segment rule on many path sets', () => {
    const cases: string[][] = [
      [],
      ['a.b.c'],
      ['a.b.c', 'a.b.c'],
      ['a.b', 'a.b.c'],
      ['a.bc.x', 'a.bd.x'],
      ['.a.b', '.a.c'],
      ['x.weight', 'y.weight'],
      ['m.l.0.q.weight', 'm.l.1.q.weight'],
      ['m.weight', 'm.weight'],
      ['a.b.', 'a.b.c'],
    ];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const parts = ['a', 'b', 'ab', 'weight', '', '0', '1'];
    for (let k = 0; k < 2000; k++) {
      const n = 1 + rand(4);
      const base = Array.from({ length: 1 + rand(4) }, () => parts[rand(parts.length)]).join('.');
      cases.push(
        Array.from({ length: n }, () => {
          const tail = Array.from({ length: rand(4) }, () => parts[rand(parts.length)]).join('.');
          return rand(3) ? `${base}.${tail}` : tail;
        }),
      );
    }
    for (const c of cases) assert.deepEqual(sharedPathParts(c), referenceShared(c), c.join(' | '));
  });

  it('filters 100,000 modules and serves the first page quickly', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) =>
      row(`${P}.${i % 1000}.block_${Math.floor(i / 1000)}.q_proj`, `model.layers.${i}.weight`),
    );
    const t = new MappingTable(rows);
    const started = performance.now();
    const s = t.setQuery('block_7');
    const page = t.rows(0, 100);
    const ms = performance.now() - started;
    assert.ok(s.rowCount > 1000);
    assert.equal(page.rows.length, 100);
    // The goal is 50 ms (bench/mappingTableBench.ts measures it); a shared CI box gets slack.
    assert.ok(ms < 250, `setQuery + first page took ${ms.toFixed(1)} ms`);
  });
});
