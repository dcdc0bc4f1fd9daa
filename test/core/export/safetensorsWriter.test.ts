import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IoPacer } from '../../../src/core/export/ioPacer.js';
import { writeSafetensors } from '../../../src/core/export/safetensorsWriter.js';
import { numberToBf16, numberToHalf } from '../../../src/core/formats/encode.js';
import { buildSafetensors } from '../../helpers/safetensorsBuilder.js';
import {
  CheckpointError,
  decodeValues,
  openPath,
  type Checkpoint,
  type TensorInfo,
} from '../../../src/core/formats/index.js';

const ADAPTER = 'samples/tiny-llama-lora/adapter_model.safetensors';

describe('safetensors writer', () => {
  let dir = '';
  let src: Checkpoint;
  const first = (): TensorInfo => src.tensors[0] as TensorInfo;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-write-'));
    src = await openPath(ADAPTER);
  });
  after(async () => {
    await src.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a file the strict reader accepts, with bit-identical tensors and renamed keys', async () => {
    const out = join(dir, 'renamed.safetensors');
    const picked = src.tensors.slice(0, 6);
    const res = await writeSafetensors(
      out,
      picked.map((t) => ({
        name: t.name.replace('base_model.model.', ''),
        from: t,
        checkpoint: src,
      })),
      { format: 'pt', source: 'test' },
    );
    assert.equal(res.tensors, 6);
    const back = await openPath(out);
    assert.equal(back.fileSize, res.bytes);
    assert.equal(back.metadata.source, 'test');
    for (const t of picked) {
      const copy = back.tensor(t.name.replace('base_model.model.', ''));
      assert.deepEqual(copy.shape, t.shape);
      assert.deepEqual(await back.readTensorBytes(copy), await src.readTensorBytes(t));
    }
    // The header is space-padded to 8 bytes, so the data starts aligned.
    assert.equal(back.headerByteLength % 8, 0);
    await back.close();
  });

  it('converts floats with round-to-nearest-even, as torch does', async () => {
    assert.equal(numberToHalf(1 / 3), 0x3555);
    assert.equal(numberToHalf(65520), 0x7c00);
    assert.equal(numberToHalf(2 ** -24), 0x0001);
    assert.equal(numberToHalf(-0), 0x8000);
    assert.equal(numberToBf16(1 / 3), 0x3eab);
    assert.equal(numberToBf16(1), 0x3f80);
    const t = src.tensors[0];
    assert.ok(t);
    for (const dtype of ['F16', 'BF16'] as const) {
      const out = join(dir, `${dtype}.safetensors`);
      await writeSafetensors(out, [{ name: 'w', from: t, checkpoint: src, dtype }], {});
      const back = await openPath(out);
      const w = back.tensor('w');
      assert.equal(w.dtype, dtype);
      const original = decodeValues(await src.readTensorBytes(t), 'F32');
      const converted = decodeValues(await back.readTensorBytes(w), dtype);
      const tol = dtype === 'F16' ? 1e-3 : 1e-2;
      original.forEach((v, i) =>
        assert.ok(Math.abs(v - (converted[i] as number)) <= tol * Math.max(1, Math.abs(v))),
      );
      await back.close();
    }
  });

  it('is atomic: a failure leaves the old file and no temporary file', async () => {
    const out = join(dir, 'atomic.safetensors');
    await writeFile(out, 'previous contents');
    const broken = Object.create(src) as Checkpoint;
    // Both read paths: per tensor, and spans of adjacent tensors.
    broken.readTensorBytes = async () => {
      throw new CheckpointError('IoError', 'disk on fire');
    };
    broken.readSpan = async () => {
      throw new CheckpointError('IoError', 'disk on fire');
    };
    Object.defineProperty(broken, 'readSpanSync', {
      value: () => {
        throw new CheckpointError('IoError', 'disk on fire');
      },
    });
    await assert.rejects(
      writeSafetensors(out, [{ name: 'w', from: first(), checkpoint: broken }], {}),
      /disk on fire/,
    );
    assert.equal(await readFile(out, 'utf8'), 'previous contents');
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('never writes over its source, and refuses bad names', async () => {
    await assert.rejects(
      writeSafetensors(
        ADAPTER,
        [{ name: 'w', from: first(), checkpoint: src }],
        {},
        { protect: [ADAPTER] },
      ),
      (e: unknown) => (e as CheckpointError).code === 'WouldOverwriteSource',
    );
    await assert.rejects(
      writeSafetensors(
        join(dir, 'x.safetensors'),
        [{ name: '__metadata__', from: first(), checkpoint: src }],
        {},
      ),
      (e: unknown) => (e as CheckpointError).code === 'ReservedTensorName',
    );
    const t = first();
    await assert.rejects(
      writeSafetensors(
        join(dir, 'y.safetensors'),
        [
          { name: 'a', from: t, checkpoint: src },
          { name: 'a', from: t, checkpoint: src },
        ],
        {},
      ),
      (e: unknown) => (e as CheckpointError).code === 'DuplicateKey',
    );
  });

  it('copies the same bytes whether its I/O runs in place or through the thread pool', async () => {
    // Interleaved with state that is left out, and one tensor over a copy block (2 MiB), so both
    // the runs of adjacent tensors and the pieces of a large tensor are read both ways.
    const pattern = (n: number, seed: number) =>
      Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
    const specs = [
      { name: 'a.lora_A.weight', dtype: 'F32', shape: [8, 64], data: pattern(2048, 1) },
      { name: 'a.lora_B.weight', dtype: 'F32', shape: [64, 8], data: pattern(2048, 2) },
      { name: 'state.a', dtype: 'F32', shape: [512], data: pattern(2048, 3) },
      { name: 'big.weight', dtype: 'F16', shape: [1536, 1024], data: pattern(1536 * 2048, 4) },
      { name: 'b.lora_A.weight', dtype: 'BF16', shape: [4, 16], data: pattern(128, 5) },
    ];
    const input = join(dir, 'interleaved.safetensors');
    await writeFile(input, buildSafetensors(specs));
    const ckpt = await openPath(input);
    try {
      assert.ok(ckpt.readSpanSync, 'a local safetensors file reads in place');
      const kept = ckpt.tensors.filter((t) => !t.name.startsWith('state.'));
      const pooled = Object.create(ckpt) as Checkpoint;
      Object.defineProperty(pooled, 'readSpanSync', { value: undefined });
      const outs: Buffer[] = [];
      const ways = [
        { from: ckpt, pacer: new IoPacer() },
        { from: pooled, pacer: new IoPacer() },
        { from: ckpt, pacer: new IoPacer(8, 4, false) },
      ];
      for (const { from, pacer } of ways) {
        const out = join(dir, `both-ways-${outs.length}.safetensors`);
        await writeSafetensors(
          out,
          kept.map((t) => ({ name: t.name, from: t, checkpoint: from })),
          {},
          { pacer },
        );
        outs.push(await readFile(out));
      }
      assert.ok(outs[0]?.equals(outs[1] as Buffer), 'pooled reads write the same file');
      assert.ok(outs[0]?.equals(outs[2] as Buffer), 'pooled reads and writes write the same file');
      const back = await openPath(join(dir, 'both-ways-0.safetensors'));
      try {
        for (const spec of specs.filter((t) => !t.name.startsWith('state.'))) {
          const bytes = await back.readTensorBytes(back.tensor(spec.name));
          assert.deepEqual(Buffer.from(bytes), Buffer.from(spec.data), spec.name);
        }
      } finally {
        await back.close();
      }
    } finally {
      await ckpt.close();
    }
  });
});
