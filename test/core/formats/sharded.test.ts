import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CheckpointError,
  openPath,
  type ReaderErrorCode,
} from '../../../src/core/formats/index.js';

const FIXTURE = 'test/fixtures/sharded/safetensors';
const expected = JSON.parse(readFileSync('test/fixtures/sharded/expected.json', 'utf8')) as {
  shards: string[];
  total_size: number;
  tensor_count: number;
  parameter_count: number;
  tensors: Record<string, { shard: string; dtype: string; shape: number[] }>;
};

async function rejectsWith(target: string, code: ReaderErrorCode, part?: RegExp): Promise<void> {
  await assert.rejects(openPath(target), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.equal(e.code, code, e.message);
    if (part) assert.match(e.message, part);
    return true;
  });
}

describe('sharded safetensors (save_pretrained with max_shard_size)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-shards-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('opens the index or its folder and lists every tensor in its shard', async () => {
    for (const target of [join(FIXTURE, 'model.safetensors.index.json'), FIXTURE]) {
      const ckpt = await openPath(target);
      assert.equal(ckpt.format, 'sharded-safetensors');
      assert.equal(ckpt.tensors.length, expected.tensor_count);
      assert.equal(ckpt.parameterCount, expected.parameter_count);
      assert.equal(ckpt.dataBytes, expected.total_size);
      assert.equal(ckpt.metadata.shards, String(expected.shards.length));
      assert.deepEqual(ckpt.warnings, []);
      for (const t of ckpt.tensors) {
        const e = expected.tensors[t.name];
        assert.ok(e, t.name);
        assert.equal(t.file, e.shard);
        assert.equal(t.dtype, e.dtype);
        assert.deepEqual(t.shape, e.shape);
      }
      const norm = ckpt.tensor('model.norm.weight');
      const bytes = await ckpt.readTensorBytes(norm);
      assert.equal(Buffer.from(bytes).readFloatLE(0), 1);
      await ckpt.close();
    }
  });

  it('names a missing shard', async () => {
    const copy = join(dir, 'missing');
    await cp(FIXTURE, copy, { recursive: true });
    await unlink(join(copy, expected.shards[2] as string));
    await rejectsWith(copy, 'MissingShard', new RegExp(expected.shards[2] as string));
  });

  it('names a weight_map entry that its shard does not hold', async () => {
    const copy = join(dir, 'wrong-map');
    await cp(FIXTURE, copy, { recursive: true });
    const indexPath = join(copy, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    index.weight_map['model.norm.weight'] = expected.shards[0];
    if (expected.tensors['model.norm.weight']?.shard === expected.shards[0])
      index.weight_map['model.norm.weight'] = expected.shards[1];
    await writeFile(indexPath, JSON.stringify(index));
    await rejectsWith(copy, 'ShardTensorMissing', /model\.norm\.weight/);
  });

  it('lists tensors by shard, then data offset, whatever order the index uses', async () => {
    const copy = join(dir, 'scrambled');
    await cp(FIXTURE, copy, { recursive: true });
    const indexPath = join(copy, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    const entries = Object.entries(index.weight_map as Record<string, string>).reverse();
    index.weight_map = Object.fromEntries(entries);
    await writeFile(indexPath, JSON.stringify(index));
    const ckpt = await openPath(copy);
    const order = ckpt.tensors.map((t) => `${t.file}@${String(t.offset).padStart(12, '0')}`);
    assert.deepEqual(order, [...order].sort());
    assert.equal(ckpt.tensors.length, expected.tensor_count);
    await ckpt.close();
  });

  it('warns about, and leaves out, shard tensors the index does not list', async () => {
    const copy = join(dir, 'unlisted');
    await cp(FIXTURE, copy, { recursive: true });
    const indexPath = join(copy, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    const shard = expected.tensors['model.norm.weight']?.shard as string;
    delete index.weight_map['model.norm.weight'];
    await writeFile(indexPath, JSON.stringify(index));
    const ckpt = await openPath(copy);
    assert.equal(ckpt.tensors.length, expected.tensor_count - 1);
    assert.ok(!ckpt.tensors.some((t) => t.name === 'model.norm.weight'));
    assert.equal(
      ckpt.warnings?.[0],
      `${shard} holds 1 tensor(s) the index does not list (e.g. "model.norm.weight"); they are not shown`,
    );
    await ckpt.close();
  });

  it('warns when total_size disagrees with the shards', async () => {
    const copy = join(dir, 'total');
    await cp(FIXTURE, copy, { recursive: true });
    const indexPath = join(copy, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    index.metadata.total_size = 12;
    await writeFile(indexPath, JSON.stringify(index));
    const ckpt = await openPath(copy);
    assert.match(ckpt.warnings?.join('\n') ?? '', /TotalSizeMismatch/);
    await ckpt.close();
  });

  it('refuses shard names that leave the folder, and malformed indexes', async () => {
    const copy = join(dir, 'escape');
    await cp(FIXTURE, copy, { recursive: true });
    const indexPath = join(copy, 'model.safetensors.index.json');
    await writeFile(indexPath, JSON.stringify({ weight_map: { w: '../../etc/passwd' } }));
    await rejectsWith(copy, 'PathOutsideFolder');
    await writeFile(indexPath, JSON.stringify({ weight_map: ['a'] }));
    await rejectsWith(copy, 'InvalidIndex');
    await writeFile(indexPath, '{"weight_map": ');
    await rejectsWith(copy, 'InvalidIndex', /not valid JSON/);
    await writeFile(indexPath, '{"weight_map": {"a": "x",}}');
    await rejectsWith(copy, 'InvalidIndex', /not valid JSON/);
    await writeFile(indexPath, JSON.stringify({ weight_map: { a: 'x', b: 7 } }));
    await rejectsWith(copy, 'InvalidIndex', /gives tensor "b" a shard that is not a file name/);
    await writeFile(indexPath, JSON.stringify({ weight_map: { a: 'x', b: '' } }));
    await rejectsWith(copy, 'InvalidIndex', /gives tensor "b" a shard that is not a file name/);
    await writeFile(indexPath, JSON.stringify({ metadata: [], weight_map: {} }));
    await rejectsWith(copy, 'InvalidIndex', /"metadata" must be an object/);
    await writeFile(indexPath, JSON.stringify({ metadata: {} }));
    await rejectsWith(copy, 'InvalidIndex', /"weight_map" must be an object/);
  });

  it('reads indexes outside the fast scan (escaped names, repeated names) as JSON.parse does', async () => {
    const copy = join(dir, 'unusual');
    await cp(FIXTURE, copy, { recursive: true });
    const indexPath = join(copy, 'model.safetensors.index.json');
    const original = await readFile(indexPath, 'utf8');
    const index = JSON.parse(original) as { weight_map: Record<string, string> };
    const [first, shard] = Object.entries(index.weight_map)[0] as [string, string];
    const other = expected.shards.find((s) => s !== shard) as string;
    // Escapes spelling plain characters, and the first name repeated with a wrong shard before the
    // right one: JSON.parse keeps the last value, so the index is still consistent.
    const repeated = original.replace(
      /"weight_map"\s*:\s*\{/,
      `"weight_map": {"${first}": "${other}", `,
    );
    for (const text of [repeated, repeated.replace(/model\./g, 'model\\u002e')]) {
      await writeFile(indexPath, text);
      const ckpt = await openPath(copy);
      assert.equal(ckpt.tensors.length, expected.tensor_count);
      assert.equal(ckpt.tensors.find((t) => t.name === first)?.file, shard);
      assert.deepEqual(ckpt.warnings, []);
      await ckpt.close();
    }
  });
});

describe('folders', () => {
  it('opens a PEFT adapter folder with its adapter_config.json', async () => {
    const ckpt = await openPath('samples/tiny-llama-lora');
    assert.equal(ckpt.format, 'safetensors');
    assert.equal(ckpt.tensors.length, 16);
    const config = ckpt.configs?.['adapter_config.json'] as Record<string, unknown>;
    assert.equal(config.r, 8);
    assert.equal(config.peft_type, 'LORA');
    await ckpt.close();
  });

  it('opens a transformers model folder with its config.json', async () => {
    const ckpt = await openPath('samples/tiny-llama');
    assert.equal(ckpt.tensors.length, 21);
    assert.equal((ckpt.configs?.['config.json'] as Record<string, unknown>).model_type, 'llama');
    await ckpt.close();
  });

  it('attaches adapter_config.json when the adapter file is opened directly', async () => {
    const ckpt = await openPath('samples/tiny-llama-lora/adapter_model.safetensors');
    assert.ok(ckpt.configs?.['adapter_config.json']);
    const a = ckpt.tensor('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    assert.equal((await ckpt.readTensorBytes(a)).length, 8 * 64 * 4);
    await ckpt.close();
  });

  it('says what it looked for in a folder without a checkpoint', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'lora-lens-empty-'));
    await writeFile(join(empty, 'README.md'), '# nothing here');
    await rejectsWith(empty, 'UnsupportedFormat', /no checkpoint found/);
    await rm(empty, { recursive: true });
  });
});
