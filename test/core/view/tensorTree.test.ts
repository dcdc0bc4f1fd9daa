import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TensorInfo } from '../../../src/core/formats/checkpoint.js';
import { TensorTree } from '../../../src/core/view/tensorTree.js';

function tensors(names: string[]): TensorInfo[] {
  let offset = 0;
  return names.map((name, i) => {
    const t: TensorInfo = {
      name,
      dtype: 'F32',
      shape: [i + 1],
      offset,
      byteLength: (i + 1) * 4,
      parameterCount: i + 1,
    };
    offset += t.byteLength;
    return t;
  });
}

const NAMES = [
  'model.layers.10.self_attn.q_proj.weight',
  'model.layers.2.self_attn.q_proj.weight',
  'model.layers.2.self_attn.v_proj.weight',
  'model.layers.2.mlp.up_proj.weight',
  'model.embed_tokens.weight',
  'lm_head.weight',
];

const labels = (tree: TensorTree) =>
  tree.rows(0, 1000).map((r) => `${'  '.repeat(r.depth)}${r.label}`);

describe('TensorTree', () => {
  it('groups by module path in natural order, top level open', () => {
    const tree = new TensorTree(tensors(NAMES));
    assert.deepEqual(labels(tree), ['lm_head', '  weight', 'model', '  embed_tokens', '  layers']);
    const model = tree.rows(2, 1)[0];
    assert.equal(model?.kind, 'group');
    assert.equal(model?.expanded, true);
    assert.deepEqual(model?.totals, { tensors: 5, params: 15, bytes: 60 });
    assert.equal(tree.total.tensors, 6);
  });

  it('expands and collapses groups, and reveals paths', () => {
    const tree = new TensorTree(tensors(NAMES));
    const layers = tree.rows(0, 10).find((r) => r.path === 'model.layers');
    assert.ok(layers);
    const s = tree.setExpanded(layers.id);
    assert.equal(s.rowCount, 7);
    assert.deepEqual(labels(tree).slice(4), ['  layers', '    2', '    10']);
    const row = tree.reveal('model.layers.10.self_attn.q_proj.weight');
    assert.equal(tree.rows(row, 1)[0]?.path, 'model.layers.10.self_attn.q_proj.weight');
    assert.equal(tree.rows(row, 1)[0]?.kind, 'tensor');
    assert.deepEqual(tree.rows(row, 1)[0]?.shape, [1]);
    tree.collapseAll();
    assert.equal(tree.state().rowCount, 2);
    tree.expandAll();
    assert.equal(tree.state().rowCount, 19);
  });

  it('filters fuzzily, keeps ancestors, totals only what matches, and highlights', () => {
    const tree = new TensorTree(tensors(NAMES));
    const s = tree.setQuery('q_proj');
    assert.deepEqual(s.shown, { tensors: 2, params: 3, bytes: 12 });
    const rows = tree.rows(0, 100);
    assert.deepEqual(
      rows.filter((r) => r.kind === 'tensor').map((r) => r.path),
      ['model.layers.2.self_attn.q_proj.weight', 'model.layers.10.self_attn.q_proj.weight'],
    );
    assert.equal(rows[0]?.path, 'model');
    assert.deepEqual(rows[0]?.totals, { tensors: 2, params: 3, bytes: 12 });
    const qproj = rows.find((r) => r.label === 'q_proj');
    assert.equal(qproj?.kind, 'group');
    // Collapse while filtering, then clearing the filter restores the normal tree.
    tree.setExpanded(rows[0]?.id ?? -1, false);
    assert.equal(tree.state().rowCount, 1);
    assert.equal(tree.setQuery('').rowCount, 5);
  });

  it('treats numbers in the query as whole layer indices', () => {
    const tree = new TensorTree(
      tensors([
        'm.layers.3.q.weight',
        'm.layers.13.q.weight',
        'm.layers.30.q.weight',
        'lora_unet_down_blocks_3_attn.alpha',
      ]),
    );
    assert.equal(tree.setQuery('layers 3 q').shown.tensors, 1);
    assert.equal(tree.setQuery('blocks 3').shown.tensors, 1);
    assert.equal(tree.setQuery('q').shown.tensors, 3);
  });

  it('highlights the matched characters of the label', () => {
    const tree = new TensorTree(tensors(['a.alpha', 'a.beta']));
    tree.setQuery('beta');
    const leaf = tree.rows(0, 10).find((r) => r.kind === 'tensor');
    assert.equal(leaf?.label, 'beta');
    assert.deepEqual(leaf?.match, [0, 4]);
  });

  it('lists raw keys flat, filtered and sorted', () => {
    const tree = new TensorTree(tensors(NAMES));
    tree.setGrouping('flat');
    assert.equal(tree.state().rowCount, 6);
    assert.equal(tree.rows(0, 1)[0]?.label, 'lm_head.weight');
    tree.setQuery('layers v_proj');
    assert.deepEqual(
      tree.rows(0, 10).map((r) => r.label),
      ['model.layers.2.self_attn.v_proj.weight'],
    );
  });

  it('handles a name that is both a tensor and a group, and odd segments', () => {
    const tree = new TensorTree(tensors(['a', 'a.b', '.x', 'y..z']));
    tree.expandAll();
    const rows = tree.rows(0, 100);
    const a = rows.find((r) => r.path === 'a');
    assert.equal(a?.kind, 'group');
    assert.equal(a?.dtype, 'F32');
    assert.deepEqual(a?.totals.tensors, 2);
    assert.ok(rows.some((r) => r.path === 'y..z' && r.kind === 'tensor'));
    assert.equal(tree.total.tensors, 4);
  });

  it('pages 100,000 rows without building them all', () => {
    const names: string[] = [];
    for (let l = 0; l < 1000; l++)
      for (let m = 0; m < 100; m++) names.push(`model.layers.${l}.block.m${m}.weight`);
    const tree = new TensorTree(tensors(names));
    tree.expandAll();
    const { rowCount } = tree.state();
    assert.ok(rowCount > 200_000);
    const page = tree.rows(rowCount - 5, 100);
    assert.equal(page.length, 5);
    const s = tree.setQuery('layers 999 m99');
    assert.equal(s.shown.tensors, 1);
  });

  it('keys nodes by path when segments hold dots, and finds quantized parts by name', () => {
    const ts = tensors(['a.b.c', 'a.b.d', 'q.weight']);
    const part = (name: string): TensorInfo => ({
      name,
      dtype: 'I32',
      shape: [2],
      offset: 0,
      byteLength: 8,
      parameterCount: 2,
    });
    const quantized: TensorInfo = {
      ...(ts[2] as TensorInfo),
      quant: {
        label: 'GPTQ',
        bitsPerWeight: 4.25,
        parts: { scales: part('q.scales'), qweight: part('q.qweight') },
      } as unknown as TensorInfo['quant'],
    };
    // 'a.b' + 'c', then 'a' + 'b' + 'd': the second reaches path a.b through the first's node, and
    // a.b.d keeps the depth it was made at.
    const seg = new Map([
      ['a.b.c', ['a.b', 'c']],
      ['a.b.d', ['a', 'b', 'd']],
    ]);
    const tree = new TensorTree([ts[0] as TensorInfo, ts[1] as TensorInfo, quantized], {
      segments: (t) => seg.get(t.name) ?? t.name.split('.'),
    });
    tree.expandAll();
    assert.deepEqual(
      tree.rows(0, 100).map((r) => `${r.depth} ${r.path}`),
      ['0 a', '0 a.b', '1 a.b.c', '2 a.b.d', '0 q', '1 q.weight', '2 q.qweight', '2 q.scales'],
    );
    tree.collapseAll();
    const row = tree.reveal('q.scales');
    assert.equal(tree.rows(row, 1)[0]?.label, 'scales');
    assert.equal(tree.rows(row, 1)[0]?.path, 'q.scales');
    assert.equal(tree.reveal('a.b'), 1);
    assert.equal(row, 5);
    assert.equal(tree.reveal('nope'), -1);
  });
});
