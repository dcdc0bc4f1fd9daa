import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeJson } from '../../src/cli/jsonOut.js';

/** What writeJson sends, as the CLI prints it (each `io.out` call ends with a newline), and the calls. */
function written(value: unknown): { text: string; calls: string[] } {
  const calls: string[] = [];
  writeJson(
    { out: (t) => calls.push(t), err: () => assert.fail('writeJson wrote to stderr') },
    value,
  );
  return { text: calls.map((c) => c + '\n').join(''), calls };
}

function assertSame(value: unknown): void {
  const expected = JSON.stringify(value, null, 2);
  const { text } = written(value);
  assert.equal(text, expected === undefined ? '' : expected + '\n');
}

/** An array or object with `n` entries, enough to be written entry by entry. */
const big = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const bigObject = (n: number, f: (i: number) => unknown): Record<string, unknown> =>
  Object.fromEntries(big(n, (i) => [`k${i}`, f(i)]));

const awkward: Record<string, unknown> = {
  empty: [],
  emptyObj: {},
  nested: { a: [[], {}, [[]], [{}]], b: { c: { d: [1, [2, [3]]] } } },
  unicode: 'héllo wörld — ✓ 𝔘𝔫𝔦 \u2028\u2029 \ud800 lone \udfff',
  escapes: 'quote " backslash \\ newline \n tab \t cr \r nul \u0000 bell \u0007 del \u007f',
  'key "with"\nescapes\\': 1,
  '': 'empty key',
  numbers: [0, -0, 1.5, -2e-7, 1e21, 1e-7, 123456789012345680000, NaN, Infinity, -Infinity, 5e-324],
  max: Number.MAX_VALUE,
  bools: [true, false, null],
  skipped: undefined,
  fn: () => 1,
  sym: Symbol('x'),
  inArray: [undefined, () => 2, Symbol('y'), 'kept'],
  date: new Date(Date.UTC(2024, 1, 3, 4, 5, 6, 7)),
  toJson: { toJSON: (key: string) => ({ key, inner: [1, 2] }) },
  toJsonUndefined: { toJSON: () => undefined },
  toJsonOfToJson: { toJSON: () => ({ toJSON: () => 'must not be called', x: 1 }) },
  boxed: [new String('s'), new Number(3), new Boolean(false)],
  1: 'integer-like key comes first',
};

describe('writeJson', () => {
  it('writes JSON.stringify(v, null, 2) for small values of every kind', () => {
    for (const v of [
      0,
      -0,
      'str',
      null,
      true,
      NaN,
      [],
      {},
      [[]],
      [{}],
      { a: [] },
      awkward,
      [awkward, [awkward]],
      new Date(0),
    ])
      assertSame(v);
  });

  it('writes nothing where JSON.stringify gives no text', () => {
    assertSame(undefined);
    assertSame(() => 1);
    assertSame({ toJSON: () => undefined });
  });

  it('streams big arrays and objects with the same bytes', () => {
    const value = {
      tensors: big(5000, (i) => ({
        name: `model.layers.${i}.mlp.down_proj.weight`,
        shape: [4096, i],
        dtype: i % 2 ? 'BF16' : 'F32',
        nested: i % 97 === 0 ? awkward : [],
        gone: undefined,
      })),
      modules: bigObject(300, (i) => (i % 3 ? { rank: i, alpha: i / 3 } : big(70, (j) => j - i))),
      holes: [, 1, , 2, ...big(100, () => undefined)], // eslint-disable-line no-sparse-arrays
      skippedBig: bigObject(100, () => undefined),
      bigOfToJson: big(100, (i) => ({
        toJSON: (k: string) => (i % 2 ? k : { k, big: big(80, String) }),
      })),
      toJsonBig: { toJSON: () => bigObject(200, (i) => [i, { deep: big(65, (j) => ({ j })) }]) },
      deep: { a: { b: { c: big(70, (i) => bigObject(70, (j) => `${i}.${j}`)) } } },
      nums: big(1000, (i) => [i * 1e19, -i / 7, i % 5 ? NaN : -0]),
      strings: big(200, (i) => 'é\n"\\✓𝔘'.repeat(i % 5)),
      boxedLong: new String('x'.repeat(500)),
      emptyInBig: big(80, (i) => (i % 2 ? [] : {})),
      unwritableInBig: bigObject(90, (i) => [() => i, Symbol('s'), undefined, i][i % 4]),
      unwritableInBigArray: big(90, (i) => [() => i, Symbol('s'), undefined, i][i % 4]),
      toJsonChain: big(70, (i) => ({ toJSON: () => ({ toJSON: () => 'called twice', i }) })),
    };
    const { text, calls } = written(value);
    assert.equal(text, JSON.stringify(value, null, 2) + '\n');
    assert.ok(calls.length > 5, `expected the output in several pieces, got ${calls.length}`);
    for (const c of calls)
      assert.ok(!c.endsWith('\n'), 'each piece ends where io.out adds the newline');
  });

  it('streams a big top-level array', () => {
    for (const v of [
      big(65, (i) => i),
      big(10_000, (i) => ({ i, s: `${i}` })),
      bigObject(65, (i) => i),
    ])
      assertSame(v);
  });

  it('passes toJSON the key JSON.stringify passes it', () => {
    const keys: string[] = [];
    const rec = { toJSON: (k: string) => (keys.push(k), k) };
    const value = {
      a: rec,
      list: big(70, () => rec),
      // After a big entry: a run of small ones starting at index 1 must still pass 1, 2, …
      afterBig: [big(100, String), ...big(70, (i) => (i % 2 ? rec : { i }))],
      obj: bigObject(70, () => rec),
    };
    const expectedKeys: string[] = [];
    keys.length = 0;
    const expected = JSON.stringify(value, null, 2);
    expectedKeys.push(...keys);
    keys.length = 0;
    assert.equal(written(value).text, expected + '\n');
    assert.deepEqual(keys, expectedKeys);
  });
});
