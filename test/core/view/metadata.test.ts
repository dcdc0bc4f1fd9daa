import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandMetadata, parseEmbeddedJson } from '../../../src/core/view/metadata.js';

describe('metadata expansion', () => {
  it('expands JSON inside strings, recursively, and leaves other strings alone', () => {
    const entries = expandMetadata({
      ss_network_dim: '4',
      ss_tag_frequency: '{"img": {"cat": 3, "dog": 1}}',
      ss_nested: '{"inner": "{\\"x\\": [1, 2]}"}',
      plain: 'not { json',
    });
    assert.deepEqual(
      entries.map((e) => e.key),
      ['plain', 'ss_nested', 'ss_network_dim', 'ss_tag_frequency'],
    );
    const byKey = Object.fromEntries(entries.map((e) => [e.key, e]));
    assert.equal(byKey.ss_network_dim?.parsed, undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(byKey.ss_tag_frequency?.parsed)), {
      img: { cat: 3, dog: 1 },
    });
    assert.deepEqual(JSON.parse(JSON.stringify(byKey.ss_nested?.parsed)), { inner: { x: [1, 2] } });
    assert.equal(byKey.plain?.parsed, undefined);
  });

  it('folds values over the limit and does not parse them', () => {
    const [e] = expandMetadata({ big: JSON.stringify({ a: 'x'.repeat(100) }) }, 50);
    assert.equal(e?.truncated, true);
    assert.equal(e?.value.length, 50);
    assert.equal(e?.parsed, undefined);
  });

  it('keeps "__proto__" keys as data', () => {
    const v = parseEmbeddedJson('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(v), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
