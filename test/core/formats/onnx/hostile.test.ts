import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  FileByteSource,
  type Checkpoint,
  type ReaderErrorCode,
} from '../../../../src/core/formats/index.js';
import { LocalFolder } from '../../../../src/core/formats/files.js';
import { ONNX_LIMITS, openOnnx } from '../../../../src/core/formats/onnx/index.js';

// Made by scripts/fixtures/onnx/generate.py; manifest.json says what each file is.
const HOSTILE = join(__dirname, '../../../fixtures/onnx/hostile');

async function open(name: string): Promise<Checkpoint> {
  const source = await FileByteSource.open(join(HOSTILE, name));
  try {
    return await openOnnx(source, { siblings: new LocalFolder(HOSTILE) });
  } catch (e) {
    await source.close();
    throw e;
  }
}

async function rejectsWith(name: string, code: ReaderErrorCode, message?: RegExp): Promise<void> {
  try {
    await open(name);
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `${name}: expected CheckpointError, got ${String(e)}`);
    assert.equal(e.code, code, `${name}: expected ${code}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return;
  }
  assert.fail(`${name}: expected ${code}, but it opened`);
}

describe('onnx: hostile files', () => {
  it('the manifest lists exactly the files on disk', () => {
    const manifest = JSON.parse(readFileSync(join(HOSTILE, 'manifest.json'), 'utf8')) as object;
    const files = readdirSync(HOSTILE).filter((f) => f !== 'manifest.json');
    assert.deepEqual(Object.keys(manifest).sort(), files.sort());
  });

  it('opens the baseline they are cut from', async () => {
    const ckpt = await open('small.onnx');
    assert.deepEqual(ckpt.tensors[0]?.consumers, [{ op: 'MatMul', node: '/proj/MatMul' }]);
    await ckpt.close();
  });

  const cases: [string, ReaderErrorCode, RegExp?][] = [
    ['truncated.onnx', 'Truncated', /truncated/],
    ['length-past-end.onnx', 'Truncated', /2147483647 bytes/],
    ['overlong-varint.onnx', 'InvalidOnnx', /longer than 10 bytes/],
    [
      'deep-nesting.onnx',
      'LimitExceeded',
      new RegExp(`nested more than ${ONNX_LIMITS.graphDepth}`),
    ],
    ['empty.onnx', 'InvalidOnnx', /empty/],
    ['no-graph.onnx', 'InvalidOnnx', /no graph/],
    ['garbage.onnx', 'InvalidOnnx'],
    ['raw-length-mismatch.onnx', 'InvalidOnnx', /10 bytes of raw_data, but FLOAT\[4, 4\] needs 64/],
    ['huge-dims.onnx', 'LimitExceeded', /too many/],
    ['negative-dims.onnx', 'InvalidOnnx', /negative dimension -4/],
    ['duplicate-initializer.onnx', 'InvalidOnnx', /two initializers are named "w"/],
    ['external-parent.onnx', 'PathOutsideFolder'],
    ['external-absolute.onnx', 'PathOutsideFolder'],
    ['external-nested.onnx', 'PathOutsideFolder'],
    ['external-bad-offset.onnx', 'InvalidOnnx', /offset "-5"/],
    ['external-huge-offset.onnx', 'InvalidOnnx', /below 2\^53/],
  ];
  for (const [name, code, message] of cases) {
    it(`${name} → ${code}`, () => rejectsWith(name, code, message));
  }

  it('a missing external file is a warning at open and ExternalDataMissing on read', async () => {
    const ckpt = await open('external-missing.onnx');
    assert.equal(ckpt.warnings?.length, 1);
    assert.match(ckpt.warnings?.[0] ?? '', /"missing\.bin" is missing/);
    const t = ckpt.tensor('w');
    assert.equal(t.file, 'missing.bin');
    await assert.rejects(ckpt.readTensorBytes(t), { code: 'ExternalDataMissing' });
    await ckpt.close();
  });

  for (const name of ['external-out-of-range.onnx', 'external-no-length.onnx']) {
    it(`${name}: a range past the external file is a warning, then Truncated on read`, async () => {
      const ckpt = await open(name);
      assert.match(ckpt.warnings?.[0] ?? '', /"short\.bin" \(16 bytes\) is too short for "w"/);
      await assert.rejects(ckpt.readTensorBytes(ckpt.tensor('w')), { code: 'Truncated' });
      await ckpt.close();
    });
  }

  it('non-model files in the folder are refused with named errors', async () => {
    await rejectsWith('manifest.json', 'InvalidOnnx');
    await rejectsWith('short.bin', 'InvalidOnnx');
  });
});
