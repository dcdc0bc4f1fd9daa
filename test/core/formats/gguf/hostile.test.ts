import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GgufValueType } from '../../../../src/core/formats/gguf/index.js';
import {
  CheckpointError,
  FileByteSource,
  MemoryByteSource,
  type ByteSource,
  type ReaderErrorCode,
} from '../../../../src/core/formats/index.js';
import { ggufReader } from '../../../../src/core/formats/gguf/index.js';
import { MAX_HEADER_BYTES } from '../../../../src/core/formats/gguf/headerCursor.js';
import { ARCH_LLAMA, buildGguf, f32Bytes } from './ggufBuilder.js';

const HOSTILE = join(__dirname, '../../../fixtures/gguf/hostile');

const manifest = JSON.parse(readFileSync(join(HOSTILE, 'manifest.json'), 'utf8')) as Record<
  string,
  { code: ReaderErrorCode; breaks: string }
>;

async function rejectsWith(source: ByteSource, code: ReaderErrorCode, message?: RegExp) {
  try {
    const ckpt = await ggufReader.open(source);
    await ckpt.close();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}, but the file opened`);
}

const memory = (bytes: Uint8Array) => new MemoryByteSource(bytes, 'test.gguf');

/** A large file that is `head` followed by zeros, without holding the zeros. */
function fakeSource(head: Uint8Array, size: number): ByteSource & { bytesRead: number } {
  return {
    name: 'fake.gguf',
    size,
    bytesRead: 0,
    async read(offset, length) {
      this.bytesRead += length;
      const out = new Uint8Array(length);
      if (offset < head.byteLength) out.set(head.subarray(offset, offset + length));
      return out;
    },
    close: () => Promise.resolve(),
  };
}

describe('gguf: hostile files made by scripts/fixtures/gguf/generate.py', () => {
  it('has the cases the reader must refuse', () => {
    assert.ok(Object.keys(manifest).length >= 25);
  });

  for (const [name, { code, breaks }] of Object.entries(manifest)) {
    it(`${name} (${breaks}) → ${code}`, async () => {
      const source = await FileByteSource.open(join(HOSTILE, name));
      try {
        const started = Date.now();
        await rejectsWith(source, code);
        assert.ok(Date.now() - started < 2000, 'refused quickly');
      } finally {
        await source.close();
      }
    });
  }
});

describe('gguf: hostile headers made here', () => {
  it('refuses a header longer than MAX_HEADER_BYTES by name, without reading it', async () => {
    // A 200M-element u8 array is skipped unread; the next key then lies past the header limit.
    const { bytes } = buildGguf({
      kvs: [
        { key: 'x.big', type: GgufValueType.ARRAY, value: [], subType: GgufValueType.UINT8 },
        ARCH_LLAMA,
      ],
    });
    const dv = new DataView(bytes.buffer);
    const keyEnd = Buffer.from(bytes).indexOf('x.big') + 'x.big'.length;
    const lengthAt = keyEnd + 4 + 4; // after the value type and the element type
    dv.setBigUint64(lengthAt, 200_000_000n, true);
    const fake = fakeSource(bytes, 250_000_000);
    await rejectsWith(fake, 'LimitExceeded', /runs past 134,217,728 bytes/);
    assert.ok(fake.bytesRead < 1_000_000, `read ${fake.bytesRead}`);
    assert.equal(MAX_HEADER_BYTES, 134_217_728);
  });

  it('keeps keys named "__proto__" or "version" as ordinary keys', async () => {
    const { bytes } = buildGguf({
      kvs: [
        ARCH_LLAMA,
        { key: 'version', type: GgufValueType.UINT32, value: 7 },
        {
          key: '__proto__',
          type: GgufValueType.ARRAY,
          value: [1, 2],
          subType: GgufValueType.UINT8,
        },
      ],
    });
    const ckpt = await ggufReader.open(memory(bytes));
    assert.equal(ckpt.metadata['version'], '7');
    assert.equal(Object.getOwnPropertyDescriptor(ckpt.metadata, '__proto__')?.value, '[1,2]');
    assert.equal(Object.getPrototypeOf(ckpt.metadata), null);
  });

  it('names the key that appears twice', async () => {
    const { bytes } = buildGguf({ kvs: [ARCH_LLAMA, ARCH_LLAMA] });
    const e = await rejectsWith(memory(bytes), 'DuplicateKey');
    assert.equal(e.subject, 'general.architecture');
  });

  it('reports a zero-length file and a short one as truncated', async () => {
    await rejectsWith(memory(new Uint8Array(0)), 'Truncated');
    await rejectsWith(memory(new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0])), 'Truncated');
  });

  it('refuses a tensor whose data ends one byte past the file', async () => {
    const { bytes } = buildGguf({
      kvs: [ARCH_LLAMA],
      tensors: [{ name: 'w', ne: [4], type: 0, data: f32Bytes([1, 2, 3, 4]) }],
    });
    await rejectsWith(memory(bytes.subarray(0, bytes.byteLength - 1)), 'Truncated', /"w"/);
  });

  it('accepts a tensor whose data ends exactly at the end of the file', async () => {
    const { bytes } = buildGguf({
      kvs: [ARCH_LLAMA],
      tensors: [{ name: 'w', ne: [4], type: 0, data: f32Bytes([1, 2, 3, 4]) }],
      dataBytes: 16,
    });
    const ckpt = await ggufReader.open(memory(bytes));
    assert.equal(ckpt.tensors[0]?.byteLength, 16);
  });

  it('warns where llama.cpp would refuse: gaps between tensors, long names', async () => {
    const long = 'x'.repeat(64);
    const { bytes } = buildGguf({
      kvs: [ARCH_LLAMA],
      tensors: [
        { name: 'a', ne: [4], type: 0, offset: 64n },
        { name: long, ne: [4], type: 0, offset: 0n },
      ],
      dataBytes: 128,
    });
    const ckpt = await ggufReader.open(memory(bytes));
    assert.deepEqual(
      ckpt.tensors.map((t) => t.name),
      [long, 'a'],
    );
    const warnings = ckpt.warnings?.join('\n') ?? '';
    assert.match(warnings, /tensor "a" is at data offset 64, where llama.cpp expects 0/);
    assert.match(warnings, /longer than 63 bytes/);
  });
});
