/**
 * TinyLoRA against PEFT 0.21 (test/fixtures/methods/tinylora): ΔW = B·(Σ v[i]·P[i])·A with each module's
 * v chosen by PEFT's weight-tying groups over the model's module order, equal to merge_and_unload() and
 * the unmerged forward; module orders the names cannot decide are refused, never guessed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { moduleOrder } from '../../../../src/core/lora/methods/moduleOrder.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import {
  analysisOf,
  assertPeftFixture,
  copyWithConfig,
  FIX,
  firstEffectError,
  shapeWarning,
} from './effectFixture.js';

/** The targeted modules in PEFT's (model) order, as the generator recorded them. */
function targetsOf(dir: string): string[] {
  const e = JSON.parse(readFileSync(join(FIX, dir, 'expected.json'), 'utf8')) as {
    targets: string[];
  };
  return e.targets;
}

describe('TinyLoRA (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-tinylora-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names A, B and P, not the global v vectors', () => {
    const q = 'base_model.model.model.layers.0.self_attn.q_proj';
    for (const s of ['A', 'B', 'P']) {
      const p = tensorPart(`${q}.tinylora_${s}`);
      assert.deepEqual([p?.module, p?.part], [q, `tinylora_${s}`]);
    }
    assert.equal(tensorPart('base_model.tinylora_v.0'), undefined);
  });

  it('tinylora: effect = merge_and_unload() and the unmerged forward', async () => {
    await assertPeftFixture('tinylora', 'tinylora');
  });

  it("gives v groups in the model's order: q 0, k 1, v 2, o and the MLP 3", async () => {
    const a = await analysisOf(`${FIX}/tinylora`);
    const byTarget = new Map(a.modules.map((m) => [m.target, m]));
    const groups = targetsOf('tinylora').map((t) => byTarget.get(t)?.method?.settings?.['v_group']);
    assert.deepEqual(groups, [0, 1, 2, 3, 3, 3, 3]);
    const q = byTarget.get('model.layers.0.self_attn.q_proj');
    assert.deepEqual(q?.method?.settings, {
      r: 2,
      u: 8,
      weight_tying: 0.5,
      projection_seed: 42,
      save_projection: true,
      v_group: 0,
      module_order: 'Llama',
    });
    assert.deepEqual(q?.method?.shared, { tinylora_v: 'base_model.tinylora_v.0' });
    assert.equal(q?.rank, 2);
    assert.equal(q?.scale, 1);
  });

  it('weight_tying that disagrees with the saved v vectors is a shape problem', async () => {
    const dir = copyWithConfig('tinylora', join(tmp, 'wt0'), { weight_tying: 0 });
    assert.match(
      await shapeWarning(dir),
      /the file has 4 tinylora_v vectors, weight_tying = 0 gives 7 groups/,
    );
  });

  it('an order the names cannot decide is a problem and a named effect error', async () => {
    // Without auto_mapping the Llama names still decide; an unknown architecture does not.
    const dir = copyWithConfig('tinylora', join(tmp, 'arch'), {
      auto_mapping: {
        base_model_class: 'X',
        parent_library: 'transformers.models.unknownnet.modeling',
      },
    });
    assert.match(await shapeWarning(dir), /cannot tell whether .* comes before/);
    const e = await firstEffectError(dir);
    assert.ok(e instanceof CheckpointError);
    assert.equal(e.code, 'InvalidExport');
    assert.match(e.message, /which tinylora_v/);
  });

  it('orders modules by number and by each naming scheme', () => {
    const llama = [
      'model.layers.10.mlp.up_proj',
      'model.layers.2.self_attn.v_proj',
      'model.layers.2.mlp.down_proj',
    ];
    assert.deepEqual(moduleOrder(llama, null).order, [
      'model.layers.2.self_attn.v_proj',
      'model.layers.2.mlp.down_proj',
      'model.layers.10.mlp.up_proj',
    ]);
    const opt = [
      'model.decoder.layers.0.self_attn.q_proj',
      'model.decoder.layers.0.self_attn.out_proj',
      'model.decoder.layers.0.self_attn.k_proj',
    ];
    const o = moduleOrder(opt, null);
    assert.equal(o.scheme, 'OPT');
    assert.deepEqual(
      o.order.map((p) => p.split('.').pop()),
      ['k_proj', 'q_proj', 'out_proj'],
    );
    // q_proj / v_proj alone: Llama defines q first, OPT v first; only the config can say.
    const qv = ['model.layers.0.self_attn.v_proj', 'model.layers.0.self_attn.q_proj'];
    assert.notEqual(moduleOrder(qv, null).undecided, null);
    const cfg = { auto_mapping: { parent_library: 'transformers.models.opt.modeling_opt' } };
    assert.deepEqual(moduleOrder(qv, cfg).order, qv);
    assert.equal(moduleOrder(qv, cfg).undecided, null);
  });
});
