import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractWeights, peftSaveName } from '../../../src/core/export/extract.js';
import { CheckpointError, openPath } from '../../../src/core/formats/index.js';
import { analyzeLora } from '../../../src/core/lora/index.js';
import { scalarReader } from '../../../src/core/lora/checkpointScalars.js';
import { runExtract } from '../../../src/cli/extract.js';

const CKPT = 'test/fixtures/lora/training-checkpoint.ckpt';

describe('weights-only extraction', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-extract-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names tensors as save_pretrained does', () => {
    assert.equal(
      peftSaveName(
        'state_dict.model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight',
      ),
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
    );
    assert.equal(
      peftSaveName('model.base_model.model.lm_head.modules_to_save.default.weight'),
      'base_model.model.lm_head.weight',
    );
    assert.equal(
      peftSaveName('base_model.model.model.embed_tokens.lora_embedding_A.default'),
      'base_model.model.model.embed_tokens.lora_embedding_A',
    );
    assert.equal(
      peftSaveName('base_model.model.x.lora_magnitude_vector.default.weight'),
      'base_model.model.x.lora_magnitude_vector.weight',
    );
  });

  it('strips a training checkpoint to bit-identical LoRA tensors, with no optimizer state', async () => {
    const before = await stat(CKPT);
    const src = await openPath(CKPT);
    const analysis = await analyzeLora(src, { readScalar: scalarReader(src) });
    const out = join(dir, 'adapter_model.safetensors');
    const res = await extractWeights(src, analysis, { out, sourcePath: CKPT });
    assert.equal(
      res.tensors,
      analysis.modules.reduce((n, m) => n + m.tensors.length, 0),
    );
    assert.ok(res.dropped.some((d) => /optimizer/.test(d.reason)));
    const back = await openPath(out); // the strict reader validates it
    assert.equal(back.format, 'safetensors');
    assert.equal(back.tensors.length, res.tensors);
    assert.ok(
      back.tensors.every((t) => /lora_[AB]\.weight$/.test(t.name)),
      back.tensors.map((t) => t.name).join(),
    );
    assert.ok(!back.tensors.some((t) => /exp_avg|optimizer|state_dict/.test(t.name)));
    for (const m of analysis.modules) {
      for (const name of m.tensors) {
        const copy = back.tensor(peftSaveName(name, m.adapter ?? 'default'));
        assert.deepEqual(
          await back.readTensorBytes(copy),
          await src.readTensorBytes(src.tensor(name)),
        );
      }
    }
    const reanalysed = await analyzeLora(back);
    assert.equal(reanalysed.family, 'peft');
    assert.equal(reanalysed.modules.length, analysis.modules.length);
    await back.close();
    await src.close();
    const after = await stat(CKPT);
    assert.equal(after.mtimeMs, before.mtimeMs, 'the source was not touched');
  });

  it('the CLI writes adapter_config.json and warns when alpha is unknown', async () => {
    const out = join(dir, 'cli', 'adapter_model.safetensors');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'cli'), { recursive: true }));
    const j = await runExtract(CKPT, { out, onlyLora: false, adapterConfig: true, dtype: 'BF16' });
    const config = JSON.parse(await readFile(join(dir, 'cli', 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'LORA');
    assert.equal(config.r, 2);
    assert.match(j.warnings.join(), /lora_alpha is not stored/);
    const back = await openPath(out);
    assert.ok(back.tensors.every((t) => t.dtype === 'BF16'));
    await back.close();
    assert.deepEqual((await readdir(join(dir, 'cli'))).sort(), [
      'adapter_config.json',
      'adapter_model.safetensors',
    ]);
  });

  it('keeps modules_to_save copies unless asked for LoRA tensors only', async () => {
    const src = await openPath('test/fixtures/lora/peft-embedding');
    const analysis = await analyzeLora(src);
    const all = await extractWeights(src, analysis, {
      out: join(dir, 'emb-all.safetensors'),
      sourcePath: 'test/fixtures/lora/peft-embedding',
    });
    const only = await extractWeights(src, analysis, {
      out: join(dir, 'emb-only.safetensors'),
      sourcePath: 'test/fixtures/lora/peft-embedding',
      onlyLora: true,
    });
    assert.ok(all.tensors > only.tensors, `${all.tensors} > ${only.tensors}`);
    await src.close();
  });

  it('refuses a checkpoint without LoRA modules, and writing over the source', async () => {
    const base = await openPath('samples/tiny-llama/model.safetensors');
    await assert.rejects(
      extractWeights(base, await analyzeLora(base), {
        out: join(dir, 'x.safetensors'),
        sourcePath: 'samples/tiny-llama/model.safetensors',
      }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'InvalidExport',
    );
    await base.close();
    const adapter = 'samples/tiny-llama-lora/adapter_model.safetensors';
    const src = await openPath(adapter);
    await assert.rejects(
      extractWeights(src, await analyzeLora(src), { out: adapter, sourcePath: adapter }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'WouldOverwriteSource',
    );
    await src.close();
  });
});
