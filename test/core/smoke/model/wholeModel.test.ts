import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { openMappedPair } from '../../../../src/core/mapping/mappedPair.js';
import { checkWholeModel } from '../../../../src/core/smoke/model/index.js';
import { SmokeError, type SmokeRequest } from '../../../../src/core/smoke/types.js';
import { buildSafetensors } from '../../../helpers/safetensorsBuilder.js';

const ADAPTER = 'samples/tiny-llama-lora';
const BASE = 'samples/tiny-llama-onnx/model.onnx';
const REFERENCE = 'samples/tiny-llama-onnx/reference.safetensors';
const EXTERNAL = 'test/fixtures/smoke/tiny-llama-external/model.onnx';

async function check(req: Partial<SmokeRequest>, tempDir: string) {
  const full: SmokeRequest = { adapterPath: ADAPTER, basePath: BASE, eps: ['cpu'], ...req };
  const pair = await openMappedPair(full);
  try {
    return await checkWholeModel(ort, 'cpu', pair, full, { tempDir });
  } finally {
    await pair.close();
  }
}

describe('checkWholeModel (cpu)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-wholemodel-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('matches the PEFT reference, changes the logits, and measures switching', async () => {
    const { model, switching } = await check({ referencePath: REFERENCE }, dir);
    assert.equal(model.ok, true, model.problems.join('\n'));
    assert.deepEqual(model.problems, []);
    assert.equal(model.patched, 8);
    assert.equal(model.inputs, 'reference');
    assert.equal(model.outputs.length, 1);
    const logits = model.outputs[0];
    assert.equal(logits?.name, 'logits');
    assert.deepEqual(logits?.shape, [1, 8, 256]);
    assert.equal(logits?.finite, true);
    assert.ok((logits?.relativeChange ?? 0) > 0.05, `relative change ${logits?.relativeChange}`);
    assert.ok((logits?.maxAbsErrVsReference ?? 1) < 1e-4, `error ${logits?.maxAbsErrVsReference}`);
    assert.ok(switching, 'switching measured');
    assert.equal(switching.adapters, 2);
    assert.ok(switching.switchMs > 0 && Number.isFinite(switching.switchMs));
    assert.ok(switching.rebuildMs > 0 && Number.isFinite(switching.rebuildMs));
    // The temp folder is left clean for its owner.
    assert.deepEqual(await readdir(dir), []);
  });

  it('generates inputs when there is no reference (external-data base)', async () => {
    const { model, switching } = await check({ basePath: EXTERNAL, seed: 3 }, dir);
    assert.equal(model.ok, true, model.problems.join('\n'));
    assert.equal(model.inputs, 'generated');
    assert.deepEqual(model.outputs[0]?.shape, [1, 8, 256]);
    assert.equal(model.outputs[0]?.maxAbsErrVsReference, null);
    assert.ok((model.outputs[0]?.relativeChange ?? 0) > 0.05);
    assert.ok(switching && switching.switchMs > 0 && switching.rebuildMs > 0);
    assert.deepEqual(await readdir(dir), []);
  });

  it('catches a wrong scale against the reference (lora_alpha × 10)', async () => {
    const adapter = join(dir, '..', `${dir.split('/').pop()}-alpha10`);
    await cp(ADAPTER, adapter, { recursive: true });
    try {
      const configPath = join(adapter, 'adapter_config.json');
      const config = JSON.parse(await readFile(configPath, 'utf8')) as { lora_alpha: number };
      config.lora_alpha *= 10;
      await writeFile(configPath, JSON.stringify(config));
      const { model } = await check({ adapterPath: adapter, referencePath: REFERENCE }, dir);
      assert.equal(model.ok, false);
      assert.equal(model.outputs[0]?.ok, false);
      assert.ok((model.outputs[0]?.maxAbsErrVsReference ?? 0) > 1e-2);
      const problem = model.problems.find((p) => p.startsWith('output logits'));
      assert.ok(problem, model.problems.join('\n'));
      assert.match(problem, /max \|merged − reference\| = \d\.\d\de-\d+/);
    } finally {
      await rm(adapter, { recursive: true, force: true });
    }
  });

  it('refuses a reference whose inputs the model does not declare (InvalidReference)', async () => {
    const bad = join(dir, 'bad-reference.safetensors');
    const ids = new Uint8Array(new BigInt64Array([1n, 2n, 3n]).buffer);
    await writeFile(
      bad,
      buildSafetensors([{ name: 'input.token_ids', dtype: 'I64', shape: [1, 3], data: ids }]),
    );
    await assert.rejects(
      check({ referencePath: bad }, dir),
      (e: unknown) =>
        e instanceof SmokeError && e.code === 'InvalidReference' && /token_ids/.test(e.message),
    );
    await writeFile(bad, 'not safetensors at all');
    await assert.rejects(
      check({ referencePath: bad }, dir),
      (e: unknown) => e instanceof SmokeError && e.code === 'InvalidReference',
    );
    await rm(bad);
  });
});
