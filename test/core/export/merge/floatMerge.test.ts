import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mergeAdapter } from '../../../../src/core/export/merge/index.js';
import { mergeIntoSafetensors } from '../../../../src/core/export/merge/floatMerge.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { openMappedPair } from '../../../../src/core/mapping/mappedPair.js';
import { assertMergedEquals } from '../../../helpers/mergedEquals.js';

const FIX = 'test/fixtures/quant';

describe('merge into safetensors (float base)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-merge-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function merge(outPath: string, extra: { dtype?: 'F32'; maxShardBytes?: number } = {}) {
    const pair = await openMappedPair({ adapterPath: `${FIX}/adapter`, basePath: `${FIX}/base` });
    try {
      return await mergeIntoSafetensors(pair, { outPath, ...extra });
    } finally {
      await pair.close();
    }
  }

  it('equals PEFT merge_and_unload() within 1e-5 relative (F32 output)', async () => {
    const out = join(dir, 'merged.safetensors');
    const report = await merge(out, { dtype: 'F32' });
    assert.equal(report.patched.length, 7);
    assert.equal(report.dtype, 'F32');
    assert.deepEqual(report.notes, []);
    await assertMergedEquals(out, `${FIX}/base/merged-peft.safetensors`, 1e-5);
  });

  it("writes the base's float dtype by default (config.json says float16)", async () => {
    const out = join(dir, 'merged-f16.safetensors');
    const report = await merge(out);
    assert.equal(report.dtype, 'F16');
    const cp = await openPath(out);
    try {
      assert.ok(cp.tensors.every((t) => t.dtype === 'F16'));
    } finally {
      await cp.close();
    }
    await assertMergedEquals(out, `${FIX}/base/merged-peft.safetensors`, 1e-3);
  });

  it('shards above the size asked for, with an index transformers reads', async () => {
    const sub = join(dir, 'sharded');
    const report = await merge(sub, { dtype: 'F32', maxShardBytes: 600_000 });
    const names = (await readdir(sub)).sort();
    assert.ok(names.includes('model.safetensors.index.json'), names.join(', '));
    assert.ok(names.includes('config.json'));
    const shards = names.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n));
    assert.ok(shards.length >= 3, names.join(', '));
    assert.equal(report.files.length, shards.length + 2);
    const index = JSON.parse(await readFile(join(sub, 'model.safetensors.index.json'), 'utf8')) as {
      weight_map: Record<string, string>;
      metadata: { total_size: number };
    };
    assert.equal(Object.keys(index.weight_map).length, report.tensors);
    const config = JSON.parse(await readFile(join(sub, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(config.dtype, 'float32');
    assert.ok(!('quantization_config' in config));
    await assertMergedEquals(
      join(sub, 'model.safetensors.index.json'),
      `${FIX}/base/merged-peft.safetensors`,
      1e-5,
    );
    // No temp files are left beside the output.
    assert.deepEqual(
      names.filter((n) => n.startsWith('.')),
      [],
    );
  });

  it('refuses to write over a source, and leaves it unchanged', async () => {
    const src = `${FIX}/base/model.safetensors`;
    const before = (await stat(src)).mtimeMs;
    await assert.rejects(
      mergeAdapter({ adapterPath: `${FIX}/adapter`, basePath: `${FIX}/base`, outPath: src }),
      { code: 'WouldOverwriteSource' },
    );
    assert.equal((await stat(src)).mtimeMs, before);
  });
});
