import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import uFuzzy from '@leeoniya/ufuzzy';
import type { TensorInfo } from '../../../src/core/formats/checkpoint.js';
import { TensorTree } from '../../../src/core/view/tensorTree.js';

/**
 * The filter of a plain dot-split tree works from its labels (tensorTree.ts, labelHits). It must keep
 * exactly the tensors the reference keeps: uFuzzy over every full name, after the layer-number test.
 */

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'model',
  'layers',
  'self_attn',
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'mlp',
  'gate_proj',
  'up_proj',
  'down_proj',
  'weight',
  'bias',
  'experts',
  'w1',
  'w2',
  'w3',
  'lora_A',
  'lora_B',
  'embed_tokens',
  'input_layernorm',
  'post_attention_layernorm',
  'blk',
  'attn-q',
  'ffn:up',
  'h/5',
  'x',
  'qProj',
  "it's",
  'MLP',
  'layer5',
  '12b',
  '',
  'norm',
];

function randomNames(rand: () => number, count: number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const depth = 1 + Math.floor(rand() * 6);
    const segs: string[] = [];
    for (let d = 0; d < depth; d++)
      segs.push(rand() < 0.3 ? String(Math.floor(rand() * 25)) : pick(WORDS));
    out.push(segs.join('.'));
  }
  // A repeated name (one node holds it), and a name that is a prefix of another.
  out.push(out[0] as string, 'model', 'model.layers');
  return out;
}

function randomQuery(rand: () => number, names: readonly string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const r = rand();
  if (r < 0.4) {
    // A piece of a real name, with a typo now and then.
    const name = pick(names);
    const a = Math.floor(rand() * name.length);
    let q = name.slice(a, a + 1 + Math.floor(rand() * 14));
    if (rand() < 0.3 && q.length > 2) {
      const at = Math.floor(rand() * q.length);
      q = q.slice(0, at) + pick(['x', 'a', '', '_', ' ', 'p']) + q.slice(at + 1);
    }
    return q;
  }
  const parts: string[] = [];
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const w = pick(WORDS);
    const s = Math.floor(rand() * w.length);
    parts.push(
      rand() < 0.3 ? String(Math.floor(rand() * 25)) : w.slice(s, s + 1 + Math.floor(rand() * 8)),
    );
  }
  return parts.join(pick([' ', '.', '_', ' ', '-', '  ']));
}

function tensorsOf(names: readonly string[]): TensorInfo[] {
  return names.map((name, i) => ({
    name,
    dtype: 'F32',
    shape: [i + 1],
    offset: 0,
    byteLength: (i + 1) * 4,
    parameterCount: i + 1,
  }));
}

/** The reference: every full name through the number test and uFuzzy, as the filter always did. */
function reference(names: readonly string[], query: string): Set<number> {
  const q = query.trim();
  const fuzzy = new uFuzzy({ intraMode: 1, intraIns: 1 });
  const numbers = q.split(/[^0-9A-Za-z]+/).filter((t) => /^\d+$/.test(t));
  const tests = numbers.map((n) => new RegExp(`(?:^|[._:/-])${n}(?:$|[._:/-])`));
  const candidates = names.flatMap((n, i) => (tests.every((r) => r.test(n)) ? [i] : []));
  return new Set(fuzzy.filter(names as string[], q, numbers.length ? candidates : undefined) ?? []);
}

const allRows = (tree: TensorTree) => tree.rows(0, tree.state().rowCount);

describe('tensor filter (labels) against uFuzzy over full names', () => {
  it('keeps the same tensors, rows, totals and highlights for many random queries', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rand = rng(seed);
      const names = randomNames(rand, 400);
      const tensors = tensorsOf(names);
      const tree = new TensorTree(tensors);
      // The same tree through the name-by-name path (custom segments never take the label path).
      const byName = new TensorTree(tensors, { segments: (t) => t.name.split('.') });
      const lastIndex = new Map(names.map((n, i) => [n, i]));
      for (let k = 0; k < 150; k++) {
        const q = randomQuery(rand, names);
        if (!q.trim()) continue; // no filter: everything shows
        const want = reference(names, q);
        tree.setGrouping('flat');
        const flat = tree.setQuery(q);
        const got = new Set(allRows(tree).map((r) => r.id));
        assert.deepEqual(got, want, `seed ${seed} query ${JSON.stringify(q)}`);
        assert.equal(flat.shown.tensors, want.size, `shown, query ${JSON.stringify(q)}`);
        const params = [...want].reduce((a, i) => a + (tensors[i] as TensorInfo).parameterCount, 0);
        assert.equal(flat.shown.params, params);
        tree.setGrouping('tree');
        const s = tree.state();
        const b = byName.setQuery(q);
        assert.deepEqual(s.shown, b.shown);
        assert.equal(s.rowCount, b.rowCount, `rows, query ${JSON.stringify(q)}`);
        const rows = allRows(tree);
        assert.deepEqual(rows, allRows(byName), `rows, query ${JSON.stringify(q)}`);
        // Each row's totals, summed here from the kept tensors under its path (a repeated name is
        // held by its last tensor only).
        for (const row of rows) {
          let tensorsUnder = 0;
          let paramsUnder = 0;
          for (const i of want) {
            const name = names[i] as string;
            if (lastIndex.get(name) !== i) continue;
            if (name !== row.path && !name.startsWith(`${row.path}.`)) continue;
            tensorsUnder++;
            paramsUnder += (tensors[i] as TensorInfo).parameterCount;
          }
          assert.deepEqual(
            [row.totals.tensors, row.totals.params],
            [tensorsUnder, paramsUnder],
            `totals of ${row.path}, query ${JSON.stringify(q)}`,
          );
        }
      }
      assert.equal(tree.setQuery('').rowCount, byName.setQuery('').rowCount);
    }
  });

  it('falls back to full names where labels cannot answer (a line break in a name)', () => {
    const names = ['a.b\nq.proj', 'a.bq.proj', 'a.b.q\nproj'];
    const tree = new TensorTree(tensorsOf(names));
    tree.setGrouping('flat');
    for (const q of ['b q', 'b proj', 'q proj', 'a'])
      assert.deepEqual(
        new Set(tree.setQuery(q) && allRows(tree).map((r) => r.id)),
        reference(names, q),
      );
  });
});
