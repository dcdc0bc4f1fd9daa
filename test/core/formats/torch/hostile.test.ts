/**
 * The hostile corpus (test/fixtures/torch/hostile/, from scripts/fixtures/torch/generate.py):
 * every file is refused with its named error, and no payload ran. The generator checked that each
 * payload with a marker does create it when plain Python unpickles it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointError, FileByteSource } from '../../../../src/core/formats/index.js';
import { openTorch, torchReader } from '../../../../src/core/formats/torch/index.js';

const DIR = 'test/fixtures/torch/hostile';

interface HostileCase {
  file: string;
  code: string;
  mentions: string;
  marker: string | null;
  note: string;
}

const CASES = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as HostileCase[];

describe('torch: hostile files', () => {
  it('covers the attack classes the reader must refuse', () => {
    const codes = new Set(CASES.map((c) => c.code));
    for (const code of [
      'ForbiddenGlobal',
      'ForbiddenOpcode',
      'StorageMismatch',
      'LimitExceeded',
      'InvalidZip',
      'Truncated',
      'UnsupportedTorchFormat',
    ]) {
      assert.ok(codes.has(code), code);
    }
    assert.ok(CASES.filter((c) => c.marker).length >= 10);
  });

  for (const c of CASES) {
    it(`${c.file}: ${c.code} naming ${c.mentions} (${c.note})`, async () => {
      if (c.marker) rmSync(c.marker, { force: true });
      const source = await FileByteSource.open(join(DIR, c.file));
      try {
        assert.ok(torchReader.sniff(await source.read(0, Math.min(16, source.size)), c.file));
        await assert.rejects(
          () => openTorch(source),
          (e: unknown) => {
            assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${String(e)}`);
            assert.equal(e.code, c.code, e.message);
            assert.ok(
              e.message.includes(c.mentions) || e.subject === c.mentions,
              `"${e.message}" should name ${c.mentions}`,
            );
            return true;
          },
        );
      } finally {
        await source.close();
      }
      if (c.marker) assert.equal(existsSync(c.marker), false, `${c.marker} exists: a payload ran`);
    });
  }

  it('names the global exactly as module.name in the error subject', async () => {
    for (const c of CASES.filter(
      (x) => x.code === 'ForbiddenGlobal' || x.code === 'ForbiddenOpcode',
    )) {
      const source = await FileByteSource.open(join(DIR, c.file));
      try {
        await openTorch(source);
        assert.fail(`${c.file} opened`);
      } catch (e) {
        assert.ok(e instanceof CheckpointError);
        assert.equal(e.subject, c.mentions, c.file);
      } finally {
        await source.close();
      }
    }
  });
});
