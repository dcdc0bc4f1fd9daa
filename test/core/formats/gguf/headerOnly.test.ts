import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GgufValueType } from '../../../../src/core/formats/gguf/index.js';
import {
  CountingByteSource,
  decodeValues,
  FileByteSource,
  MemoryByteSource,
} from '../../../../src/core/formats/index.js';
import { ggufReader } from '../../../../src/core/formats/gguf/index.js';
import { ARCH_LLAMA, buildGguf } from './ggufBuilder.js';

const GIB = 2 ** 30;
const GIB_N = BigInt(GIB);
const VOCAB = 200_000;

describe('gguf: opening reads the header only', () => {
  it('reads a few MB of a 16 GiB sparse file whose header spans several read windows', async () => {
    const tokens = Array.from({ length: VOCAB }, (_, i) => `▁token_${i}`);
    const { bytes, dataStart } = buildGguf({
      kvs: [
        ARCH_LLAMA,
        {
          key: 'tokenizer.ggml.tokens',
          type: GgufValueType.ARRAY,
          value: tokens,
          subType: GgufValueType.STRING,
        },
      ],
      tensors: [
        { name: 'token_embd.weight', ne: [4096, 2 ** 18], type: 0, offset: 0n },
        { name: 'output.weight', ne: [4096, 2 ** 18], type: 8, offset: 4n * GIB_N },
      ],
      dataBytes: 0,
    });
    assert.ok(dataStart > 4_000_000, `header of ${dataStart} bytes`);
    const dir = await mkdtemp(join(tmpdir(), 'gguf-sparse-'));
    const path = join(dir, 'huge.gguf');
    try {
      await writeFile(path, bytes);
      const outputBytes = (4096 * 2 ** 18 * 34) / 32;
      const size = dataStart + 4 * GIB + outputBytes + 12 * GIB;
      await truncate(path, size); // sparse: no disk used for the zeros
      const source = new CountingByteSource(await FileByteSource.open(path));
      const ckpt = await ggufReader.open(source);
      try {
        assert.equal(ckpt.fileSize, size);
        // Windows double from 64 KiB, so the header costs at most twice its size, in few reads.
        assert.ok(source.bytesRead < 2 * dataStart, `read ${source.bytesRead} bytes`);
        assert.ok(source.bytesRead * 1000 < size);
        assert.ok(source.reads <= 8, `${source.reads} reads`);
        assert.equal(
          ckpt.metadata['tokenizer.ggml.tokens'],
          `[array of ${VOCAB} strings] ["▁token_0","▁token_1","▁token_2","▁token_3","▁token_4",…]`,
        );
        const embd = ckpt.tensor('token_embd.weight');
        assert.deepEqual(embd.shape, [2 ** 18, 4096]);
        assert.equal(embd.byteLength, 4 * GIB);
        assert.equal(embd.offset, dataStart);
        const out = ckpt.tensor('output.weight');
        assert.equal(out.offset, dataStart + 4 * GIB);
        assert.equal(out.byteLength, outputBytes);
        assert.equal(ckpt.parameterCount, 2 * 4096 * 2 ** 18);

        const before = source.bytesRead;
        const values = await ckpt.readTensorBytes(embd, { start: 2 ** 30 - 4, count: 4 });
        assert.deepEqual([...decodeValues(values, 'F32')], [0, 0, 0, 0]);
        assert.equal(source.bytesRead - before, 16);
      } finally {
        await ckpt.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a small header in one read of at most 64 KiB', async () => {
    const { bytes, dataStart } = buildGguf({
      kvs: [ARCH_LLAMA],
      tensors: [{ name: 'w', ne: [1024, 1024], type: 1 }],
      dataBytes: 2 * 1024 * 1024,
    });
    const source = new CountingByteSource(new MemoryByteSource(bytes, 'w.gguf'));
    const ckpt = await ggufReader.open(source);
    assert.equal(source.reads, 1);
    assert.equal(source.bytesRead, 64 * 1024);
    assert.ok(dataStart < 200);
    assert.equal(ckpt.tensors[0]?.byteLength, 2 * 1024 * 1024);
  });

  it('reads a whole small file once: a LoRA adapter of a few KB', async () => {
    const { bytes } = buildGguf({
      kvs: [ARCH_LLAMA],
      tensors: [{ name: 'w.lora_a', ne: [64, 8], type: 0, data: new Uint8Array(2048) }],
    });
    const source = new CountingByteSource(new MemoryByteSource(bytes, 'a.gguf'));
    await ggufReader.open(source);
    assert.deepEqual([source.reads, source.bytesRead], [1, bytes.byteLength]);
  });
});
