import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPath } from '../../../src/core/formats/index.js';
import { analyzeLora } from '../../../src/core/lora/index.js';
import { scalarReader } from '../../../src/core/lora/checkpointScalars.js';
import { loraSummaryDto } from '../../../src/core/lora/summaryDto.js';
import { TensorTree } from '../../../src/core/view/tensorTree.js';
import { moduleTree, TreeViews } from '../../../src/core/view/treeViews.js';

describe('tree views', () => {
  it('groups a kohya LoRA by module, A/B/alpha together, with a note per module', async () => {
    const ckpt = await openPath('samples/kohya-style-lora.safetensors');
    const analysis = await analyzeLora(ckpt, { readScalar: scalarReader(ckpt) });
    let built = 0;
    const views = new TreeViews(new TensorTree(ckpt.tensors), () => {
      built++;
      return moduleTree(ckpt.tensors, analysis);
    });
    assert.ok(views.hasModules);
    views.setQuery('attn');
    views.setGrouping('flat');
    assert.equal(built, 0, 'the by-module tree waits for the first switch to it');
    views.setQuery('');
    const s = views.setGrouping('module');
    assert.equal(built, 1);
    assert.equal(s.grouping, 'module');
    views.expandAll();
    const rows = views.rows(0, 100);
    const groups = rows.filter((r) => r.kind === 'group');
    assert.equal(groups.length, 4);
    const projIn = groups.find((g) => g.path.endsWith('proj_in'));
    assert.match(projIn?.note ?? '', /conv 1×1 · r 4 · α 2 · scale 0\.5/);
    const parts = rows
      .filter((r) => r.kind === 'tensor' && r.path.startsWith(`${projIn?.path}.`))
      .map((r) => r.label);
    assert.deepEqual(parts.sort(), ['alpha', 'lora_down.weight', 'lora_up.weight']);
    // The filter survives a switch of grouping.
    views.setQuery('attn1');
    assert.equal(views.setGrouping('flat').query, 'attn1');
    assert.equal(views.state().shown.tensors, 3);
    views.setGrouping('module');
    assert.equal(built, 1, 'made once');
    await ckpt.close();
  });

  it('summarises an adapter for the editor without the module list', async () => {
    const ckpt = await openPath('samples/tiny-llama-lora');
    const dto = loraSummaryDto(await analyzeLora(ckpt));
    assert.equal(dto.family, 'peft');
    assert.equal(dto.modules, 8);
    assert.deepEqual(dto.ranks, [{ value: 8, count: 8 }]);
    assert.deepEqual(dto.scales, [{ value: 2, count: 8 }]);
    assert.deepEqual(dto.conflicts, []);
    assert.ok(JSON.stringify(dto).length < 5000);
    await ckpt.close();
  });
});
