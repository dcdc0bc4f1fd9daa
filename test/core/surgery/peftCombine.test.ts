/**
 * Acceptance against PEFT 0.21 add_weighted_adapter (fixtures made by
 * scripts/fixtures/surgery/make_peft_combine.py on a tiny random Llama): cat equal to PEFT's ΔW
 * within 1e-5, svd within 1e-4; modules in one adapter only kept with their weight; kohya-named
 * copies matched to PEFT names.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openPath } from '../../../src/core/formats/index.js';
import { readFloat64 } from '../../../src/core/formats/quant/readFloat.js';
import { combineAdapters } from '../../../src/core/surgery/combine.js';
import { deltasOf, relDiff } from './helpers.js';

const DIR = join(__dirname, '../../fixtures/surgery/peft-combine');
const A1 = join(DIR, 'a1');
const A2 = join(DIR, 'a2');
const WEIGHTS = [0.7, -0.4];
const tmp = mkdtempSync(join(tmpdir(), 'lora-lens-combine-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function peftDeltas(file: string): Promise<Map<string, Float64Array>> {
  const c = await openPath(join(DIR, file));
  try {
    const out = new Map<string, Float64Array>();
    for (const t of c.tensors) out.set(t.name, await readFloat64(c, t.name));
    return out;
  } finally {
    await c.close();
  }
}

/** ‖ours − PEFT‖ / ‖PEFT‖ over every module, and that both have the same modules. */
async function compare(out: string, file: string): Promise<number> {
  const ours = await deltasOf(out);
  const theirs = await peftDeltas(file);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  let worst = 0;
  for (const [target, w] of theirs)
    worst = Math.max(worst, relDiff((ours.get(target) as { w: Float64Array }).w, w));
  return worst;
}

describe('combine against PEFT add_weighted_adapter', () => {
  it('cat: exact, ranks add, ΔW equal to PEFT within 1e-5', async () => {
    const out = join(tmp, 'cat');
    const r = await combineAdapters([A1, A2], out, { weights: WEIGHTS, method: 'cat' });
    assert.equal(r.modules.length, 10);
    const q = r.modules.find((m) => m.target === 'model.layers.0.self_attn.q_proj');
    assert.equal(q?.rank, 10);
    const down = r.modules.find((m) => m.target === 'model.layers.0.mlp.down_proj');
    assert.deepEqual(down?.inputs, [{ adapter: 0, rank: 4 }]);
    assert.ok((await compare(out, 'peft-cat-delta.safetensors')) < 1e-5);
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(config['peft_type'], 'LORA');
    assert.equal(config['use_rslora'], false);
    assert.equal(config['base_model_name_or_path'], 'tiny-random-llama');
    // PEFT must target every written module (a2's k_proj / o_proj too), and nothing else.
    assert.deepEqual(
      [...(config['target_modules'] as string[])].sort(),
      r.modules.map((m) => m.target).sort(),
    );
  });

  it('svd: re-factorised to the largest input rank, ΔW equal to PEFT within 1e-4, error reported', async () => {
    const out = join(tmp, 'svd');
    const r = await combineAdapters([A1, A2], out, { weights: WEIGHTS, method: 'svd' });
    assert.ok(r.modules.every((m) => m.rank <= 6));
    assert.ok((await compare(out, 'peft-svd-delta.safetensors')) < 1e-4);
    const q = r.modules.find((m) => m.target === 'model.layers.0.self_attn.q_proj');
    assert.ok(
      q && q.error > 0 && q.error < 1 && Math.abs(q.error ** 2 + q.retained ** 2 - 1) < 1e-9,
    );
  });

  it('kohya-named copies give the same ΔW (kohya output keeps kohya names and alpha tensors)', async () => {
    const out = join(tmp, 'kohya-cat.safetensors');
    const r = await combineAdapters(
      [join(DIR, 'a1-kohya.safetensors'), join(DIR, 'a2-kohya.safetensors')],
      out,
      { weights: WEIGHTS, method: 'cat' },
    );
    assert.equal(r.scaleStyle, 'alpha-tensor');
    const ours = await deltasOf(out);
    const theirs = await peftDeltas('peft-cat-delta.safetensors');
    for (const [target, w] of theirs) {
      const kohya = `lora_unet_${target.replace(/\./g, '_')}`;
      assert.ok(relDiff((ours.get(kohya) as { w: Float64Array }).w, w) < 1e-5, kohya);
    }
  });

  it('matches a kohya adapter to a PEFT adapter of the same model by flattened names', async () => {
    const out = join(tmp, 'cross');
    const r = await combineAdapters([A1, join(DIR, 'a1-kohya.safetensors')], out, {
      weights: [0.25, 0.75],
      method: 'cat',
    });
    assert.equal(r.matchedBy, 'flattened name');
    assert.ok(r.modules.every((m) => m.inputs.length === 2));
    const ours = await deltasOf(out);
    const a1 = await deltasOf(A1);
    for (const [target, d] of a1)
      assert.ok(relDiff((ours.get(target) as { w: Float64Array }).w, d.w) < 1e-6, target);
  });

  it('refuses a kohya-only module that the PEFT output cannot name', async () => {
    await assert.rejects(
      combineAdapters([A1, join(DIR, 'a2-kohya.safetensors')], join(tmp, 'x'), {
        weights: WEIGHTS,
        method: 'cat',
      }),
      { code: 'AmbiguousModule' },
    );
  });
});
