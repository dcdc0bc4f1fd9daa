import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mergeText, runMerge } from '../../src/cli/mergeCommand.js';
import { CheckpointError } from '../../src/core/formats/errors.js';
import { openPath } from '../../src/core/formats/index.js';
import { writeMappingFile, toMappingFile } from '../../src/core/mapping/export/index.js';
import { openMappedPair } from '../../src/core/mapping/mappedPair.js';

const ADAPTER = 'samples/tiny-llama-lora';
const BASE = 'samples/tiny-llama-onnx/model.onnx';
const Q0 = 'base_model.model.model.layers.0.self_attn.q_proj';

describe('lora-lens merge', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-mergecli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the merged model and reports what it patched (JSON keys and text)', async () => {
    const out = join(dir, 'merged.onnx');
    const r = await runMerge(ADAPTER, BASE, { out });
    assert.equal(r.out, resolve(out));
    assert.deepEqual(r.files, [resolve(out)]);
    assert.equal(r.bytes, (await stat(out)).size);
    assert.equal(r.patched.length, 8);
    const q0 = r.patched.find((p) => p.module === Q0);
    assert.deepEqual(q0, { initializer: 'onnx::MatMul_674', module: Q0, transposed: true });
    const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ['bytes', 'files', 'out', 'patched', 'warnings']);
    // The merged file opens as ONNX with the same initializers.
    const merged = await openPath(out);
    assert.equal(merged.format, 'onnx');
    assert.equal(merged.tensor('onnx::MatMul_674').dtype, 'F32');
    await merged.close();

    const text = mergeText(r);
    assert.match(text, /^merged 8 modules into .*merged\.onnx \(/);
    assert.match(
      text,
      /onnx::MatMul_674 {2}← {2}base_model\.model\.model\.layers\.0\.self_attn\.q_proj \(stored transposed\)/,
    );
  });

  it('follows a mapping file: a rejected module is not merged', async () => {
    const pair = await openMappedPair({ adapterPath: ADAPTER, basePath: BASE });
    const ids = await pair.identities();
    const file = toMappingFile(pair.mapping, ids.adapter, ids.base);
    await pair.close();
    const mappingPath = join(dir, 'mapping.json');
    const edited = {
      ...file,
      mappings: file.mappings.map((m) =>
        m.module === Q0 ? { module: Q0, target: null, source: 'user' as const } : m,
      ),
    };
    await writeMappingFile(mappingPath, edited);
    const r = await runMerge(ADAPTER, BASE, { out: join(dir, 'mapped.onnx'), mappingPath });
    assert.equal(r.patched.length, 7);
    assert.equal(
      r.patched.some((p) => p.module === Q0),
      false,
    );
  });

  it('refuses --out equal to the base with WouldOverwriteSource', async () => {
    const before = await readdir('samples/tiny-llama-onnx');
    await assert.rejects(
      runMerge(ADAPTER, BASE, { out: BASE }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'WouldOverwriteSource',
    );
    assert.deepEqual(await readdir('samples/tiny-llama-onnx'), before);
  });

  it('names a missing output folder', async () => {
    await assert.rejects(
      runMerge(ADAPTER, BASE, { out: join(dir, 'missing', 'm.onnx') }),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'FileNotFound' &&
        /output folder/.test(e.message),
    );
  });

  it('refuses an .onnx output for a base that is not ONNX, by name', async () => {
    await assert.rejects(
      runMerge(ADAPTER, 'samples/tiny-llama/model.safetensors', { out: join(dir, 'x.onnx') }),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'InvalidExport' &&
        /written as safetensors/.test(e.message),
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('x.onnx') || n.endsWith('.tmp')),
      [],
    );
  });
});
