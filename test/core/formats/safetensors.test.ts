import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  CountingByteSource,
  FileByteSource,
  MemoryByteSource,
  MAX_HEADER_SIZE,
  openCheckpointFile,
  openSafetensors,
  type ReaderErrorCode,
} from '../../../src/core/formats/index.js';
import { buildSafetensors, f32Bytes, rawFile } from '../../helpers/safetensorsBuilder.js';

const open_ = (bytes: Uint8Array) =>
  openSafetensors(new MemoryByteSource(bytes, 'test.safetensors'));

async function rejectsWith(
  bytes: Uint8Array,
  code: ReaderErrorCode,
  messagePart?: RegExp,
): Promise<CheckpointError> {
  try {
    await open_(bytes);
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (messagePart) assert.match(e.message, messagePart);
    return e;
  }
  assert.fail(`expected ${code}, but the file opened`);
}

/** A header text and the exact data length it needs. */
const tensorHeader = (entries: Record<string, unknown>) => JSON.stringify(entries);

describe('safetensors: valid files', () => {
  it('reads tensors, shapes, absolute offsets, metadata and totals', async () => {
    const file = buildSafetensors(
      [
        { name: 'b.weight', dtype: 'F32', shape: [2, 3], data: f32Bytes([1, 2, 3, 4, 5, 6]) },
        { name: 'a.bias', dtype: 'F16', shape: [4] },
        { name: 'scalar', dtype: 'I64', shape: [] },
      ],
      { format: 'pt', note: 'hello' },
    );
    const ckpt = await open_(file);
    assert.equal(ckpt.format, 'safetensors');
    assert.equal(ckpt.tensors.length, 3);
    assert.deepEqual(
      ckpt.tensors.map((t) => [t.name, t.dtype, t.shape, t.parameterCount, t.byteLength]),
      [
        ['b.weight', 'F32', [2, 3], 6, 24],
        ['a.bias', 'F16', [4], 4, 8],
        ['scalar', 'I64', [], 1, 8],
      ],
    );
    const headerLen = Number(new DataView(file.buffer).getBigUint64(0, true));
    assert.equal(ckpt.headerByteLength, 8 + headerLen);
    assert.equal(ckpt.tensors[0]?.offset, 8 + headerLen);
    assert.equal(ckpt.tensors[1]?.offset, 8 + headerLen + 24);
    assert.equal(ckpt.parameterCount, 11);
    assert.equal(ckpt.dataBytes, 40);
    assert.deepEqual({ ...ckpt.metadata }, { format: 'pt', note: 'hello' });
    assert.deepEqual(
      ckpt.dtypes.map((d) => [d.dtype, d.tensors, d.parameters, d.bytes]),
      [
        ['F32', 1, 6, 24],
        ['F16', 1, 4, 8],
        ['I64', 1, 1, 8],
      ],
    );
    const bytes = await ckpt.readTensorBytes(ckpt.tensor('b.weight'));
    assert.deepEqual([...new Float32Array(bytes.slice().buffer)], [1, 2, 3, 4, 5, 6]);
  });

  it('accepts the empty file the crate writes ({} plus padding)', async () => {
    const ckpt = await open_(rawFile('{}      ', 0));
    assert.equal(ckpt.tensors.length, 0);
    assert.equal(ckpt.parameterCount, 0);
  });

  it('accepts JSON whitespace before and after the object (page-aligned writers)', async () => {
    const h = `\t\n ${tensorHeader({ x: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } })}\r\n   `;
    const ckpt = await open_(rawFile(h, 2));
    assert.equal(ckpt.tensors[0]?.name, 'x');
  });

  it('accepts zero-size tensors and 0-rank tensors', async () => {
    const h = tensorHeader({
      empty: { dtype: 'F32', shape: [0, 8], data_offsets: [0, 0] },
      scalar: { dtype: 'F64', shape: [], data_offsets: [0, 8] },
    });
    const ckpt = await open_(rawFile(h, 8));
    assert.deepEqual(
      ckpt.tensors.map((t) => [t.name, t.parameterCount]),
      [
        ['empty', 0],
        ['scalar', 1],
      ],
    );
  });

  it('accepts offsets listed out of order (older writers) and reports them in file order', async () => {
    const h = tensorHeader({
      second: { dtype: 'U8', shape: [1], data_offsets: [4, 5] },
      first: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    });
    const ckpt = await open_(rawFile(h, 5));
    assert.deepEqual(
      ckpt.tensors.map((t) => t.name),
      ['first', 'second'],
    );
  });

  it('knows every dtype of the crate, including F8_*, F4, F6_* and C64', async () => {
    const dtypes: [string, number[], number][] = [
      ['BOOL', [3], 3],
      ['F4', [4], 2],
      ['F6_E2M3', [4], 3],
      ['F6_E3M2', [4], 3],
      ['U8', [1], 1],
      ['I8', [1], 1],
      ['F8_E5M2', [1], 1],
      ['F8_E4M3', [1], 1],
      ['F8_E8M0', [1], 1],
      ['F8_E4M3FNUZ', [1], 1],
      ['F8_E5M2FNUZ', [1], 1],
      ['I16', [1], 2],
      ['U16', [1], 2],
      ['F16', [1], 2],
      ['BF16', [1], 2],
      ['I32', [1], 4],
      ['U32', [1], 4],
      ['F32', [1], 4],
      ['C64', [1], 8],
      ['F64', [1], 8],
      ['I64', [1], 8],
      ['U64', [1], 8],
    ];
    const header: Record<string, unknown> = {};
    let at = 0;
    for (const [dtype, shape, size] of dtypes) {
      header[`t_${dtype}`] = { dtype, shape, data_offsets: [at, at + size] };
      at += size;
    }
    const ckpt = await open_(rawFile(JSON.stringify(header), at));
    assert.equal(ckpt.tensors.length, dtypes.length);
  });

  it('keeps a "__proto__" tensor name and metadata key as plain data', async () => {
    const h =
      '{"__metadata__":{"__proto__":"x","constructor":"y"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
    const ckpt = await open_(rawFile(h, 1));
    assert.equal(ckpt.tensors[0]?.name, '__proto__');
    assert.equal(ckpt.metadata['__proto__'], 'x');
    assert.equal(Object.getPrototypeOf(ckpt.metadata), null);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('accepts unknown extra fields in a tensor entry, as the crate does', async () => {
    const h = tensorHeader({
      x: { dtype: 'U8', shape: [1], data_offsets: [0, 1], extra: { nested: [1] } },
    });
    const ckpt = await open_(rawFile(h, 1));
    assert.equal(ckpt.tensors.length, 1);
  });

  it('treats "__metadata__": null as no metadata', async () => {
    const ckpt = await open_(rawFile('{"__metadata__":null}', 0));
    assert.deepEqual(Object.keys(ckpt.metadata), []);
  });
});

describe('safetensors: every validation rule has a named error', () => {
  it('HeaderTooSmall: fewer than 8 bytes', async () => {
    await rejectsWith(new Uint8Array(7), 'HeaderTooSmall');
    await rejectsWith(new Uint8Array(0), 'HeaderTooSmall');
  });

  it('HeaderTooLarge: length over 100,000,000', async () => {
    await rejectsWith(
      rawFile('{}', 0, BigInt(MAX_HEADER_SIZE + 1)),
      'HeaderTooLarge',
      /header too large/,
    );
    await rejectsWith(rawFile('{}', 0, (1n << 64n) - 1n), 'HeaderTooLarge');
  });

  it('InvalidHeaderLength: length past the end of the file', async () => {
    await rejectsWith(rawFile('{}', 0, 3n), 'InvalidHeaderLength');
    await rejectsWith(
      rawFile('{}', 0, BigInt(MAX_HEADER_SIZE)),
      'InvalidHeaderLength',
      /claims 100000000 bytes/,
    );
  });

  it('InvalidHeader: bytes that are not UTF-8', async () => {
    const f = rawFile('{"a":1}', 0);
    f[10] = 0xff;
    await rejectsWith(f, 'InvalidHeader', /invalid UTF-8/);
  });

  it('InvalidHeaderDeserialization: not JSON, or not an object', async () => {
    await rejectsWith(rawFile('{"a":', 0), 'InvalidHeaderDeserialization', /invalid JSON/);
    await rejectsWith(rawFile('[]', 0), 'InvalidHeaderDeserialization', /must be a JSON object/);
    await rejectsWith(rawFile('"x"', 0), 'InvalidHeaderDeserialization');
    await rejectsWith(rawFile('null', 0), 'InvalidHeaderDeserialization');
    await rejectsWith(rawFile('\uFEFF{}', 0), 'InvalidHeaderDeserialization');
  });

  it('InvalidHeaderDeserialization: missing or mistyped fields', async () => {
    const cases: Record<string, unknown>[] = [
      { x: 5 },
      { x: { shape: [1], data_offsets: [0, 1] } },
      { x: { dtype: 'U8', data_offsets: [0, 1] } },
      { x: { dtype: 'U8', shape: [1] } },
      { x: { dtype: 8, shape: [1], data_offsets: [0, 1] } },
      { x: { dtype: 'U8', shape: 1, data_offsets: [0, 1] } },
      { x: { dtype: 'U8', shape: ['1'], data_offsets: [0, 1] } },
      { x: { dtype: 'U8', shape: [1.5], data_offsets: [0, 1] } },
      { x: { dtype: 'U8', shape: [1], data_offsets: [0] } },
      { x: { dtype: 'U8', shape: [1], data_offsets: [0, 1, 2] } },
      { x: { dtype: 'U8', shape: [1], data_offsets: { begin: 0 } } },
    ];
    for (const c of cases)
      await rejectsWith(rawFile(JSON.stringify(c), 1), 'InvalidHeaderDeserialization');
  });

  it('InvalidHeaderDeserialization: negative numbers and offsets beyond 2^53', async () => {
    await rejectsWith(
      rawFile('{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1),
      'InvalidHeaderDeserialization',
      /integers from 0/,
    );
    await rejectsWith(
      rawFile('{"x":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', 1),
      'InvalidHeaderDeserialization',
    );
    // 2^60 and 2^64-2: JSON.parse would round these; they must never be trusted.
    await rejectsWith(
      rawFile('{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1152921504606846976]}}', 1),
      'InvalidHeaderDeserialization',
    );
    await rejectsWith(
      rawFile('{"x":{"dtype":"U8","shape":[18446744073709551614],"data_offsets":[0,1]}}', 1),
      'InvalidHeaderDeserialization',
    );
    await rejectsWith(
      rawFile('{"x":{"dtype":"U8","shape":[1e400],"data_offsets":[0,1]}}', 1),
      'InvalidHeaderDeserialization',
    );
  });

  it('InvalidHeaderDeserialization: non-string metadata values', async () => {
    await rejectsWith(
      rawFile('{"__metadata__":{"epoch":3}}', 0),
      'InvalidHeaderDeserialization',
      /"epoch" is the number 3/,
    );
    await rejectsWith(
      rawFile('{"__metadata__":{"a":{"b":"c"}}}', 0),
      'InvalidHeaderDeserialization',
    );
    await rejectsWith(rawFile('{"__metadata__":["a"]}', 0), 'InvalidHeaderDeserialization');
    await rejectsWith(rawFile('{"__metadata__":"a"}', 0), 'InvalidHeaderDeserialization');
  });

  it('UnknownDtype names the dtype', async () => {
    const e = await rejectsWith(
      rawFile('{"x":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16),
      'UnknownDtype',
      /"F128"/,
    );
    assert.equal(e.subject, 'x');
    await rejectsWith(
      rawFile('{"x":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', 4),
      'UnknownDtype',
    );
  });

  it('DuplicateKey: the same tensor twice, or a field twice', async () => {
    const dup =
      '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}';
    const e = await rejectsWith(rawFile(dup, 2), 'DuplicateKey', /"x" appears twice/);
    assert.equal(e.subject, 'x');
    await rejectsWith(
      rawFile('{"x":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}', 1),
      'DuplicateKey',
    );
    // An escaped spelling of the same key is the same key.
    await rejectsWith(
      rawFile(
        '{"ab":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a\\u0062":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        2,
      ),
      'DuplicateKey',
    );
    await rejectsWith(rawFile('{"__metadata__":{"k":"1","k":"2"}}', 0), 'DuplicateKey');
  });

  it('ReservedTensorName: a tensor called __metadata__', async () => {
    await rejectsWith(
      rawFile('{"__metadata__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
      'ReservedTensorName',
    );
  });

  it('InvalidOffset: not starting at 0, holes, overlaps, end before begin', async () => {
    await rejectsWith(
      rawFile(tensorHeader({ x: { dtype: 'U8', shape: [1], data_offsets: [1, 2] } }), 2),
      'InvalidOffset',
      /hole/,
    );
    await rejectsWith(
      rawFile(
        tensorHeader({
          a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
          b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] },
        }),
        5,
      ),
      'InvalidOffset',
    );
    await rejectsWith(
      rawFile(
        tensorHeader({
          a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
          b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] },
        }),
        3,
      ),
      'InvalidOffset',
      /overlapping/,
    );
    await rejectsWith(
      rawFile(
        tensorHeader({
          x: { dtype: 'U8', shape: [0], data_offsets: [0, 0] },
          y: { dtype: 'U8', shape: [0], data_offsets: [2, 1] },
        }),
        2,
      ),
      'InvalidOffset',
    );
  });

  it('ValidationOverflow: a shape whose product overflows 64 bits', async () => {
    const big = 2 ** 40;
    await rejectsWith(
      rawFile(tensorHeader({ x: { dtype: 'F32', shape: [big, big], data_offsets: [0, 4] } }), 4),
      'ValidationOverflow',
    );
  });

  it('MisalignedSlice: sub-byte tensors that do not fill whole bytes', async () => {
    await rejectsWith(
      rawFile(tensorHeader({ x: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }), 2),
      'MisalignedSlice',
    );
    await rejectsWith(
      rawFile(tensorHeader({ x: { dtype: 'F6_E2M3', shape: [3], data_offsets: [0, 3] } }), 3),
      'MisalignedSlice',
    );
  });

  it('TensorInvalidInfo: byte range does not match shape × dtype', async () => {
    const e = await rejectsWith(
      rawFile(tensorHeader({ x: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }), 12),
      'TensorInvalidInfo',
      /needs 16 bytes/,
    );
    assert.equal(e.subject, 'x');
    // Huge but not overflowing: 2^52 elements cannot match a 4-byte range.
    await rejectsWith(
      rawFile(
        tensorHeader({ x: { dtype: 'F32', shape: [2 ** 26, 2 ** 26], data_offsets: [0, 4] } }),
        4,
      ),
      'TensorInvalidInfo',
    );
  });

  it('MetadataIncompleteBuffer: trailing bytes (polyglots) or a truncated data section', async () => {
    const h = tensorHeader({ x: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } });
    await rejectsWith(rawFile(h, 5), 'MetadataIncompleteBuffer', /belong to no tensor/);
    await rejectsWith(rawFile(h, 3), 'MetadataIncompleteBuffer', /truncated/);
    await rejectsWith(rawFile('{}', 1), 'MetadataIncompleteBuffer');
  });

  it('TensorNotFound on lookup of a missing name', async () => {
    const ckpt = await open_(buildSafetensors([{ name: 'a', dtype: 'U8', shape: [1] }]));
    assert.throws(
      () => ckpt.tensor('b'),
      (e: unknown) => e instanceof CheckpointError && e.code === 'TensorNotFound',
    );
  });
});

describe('safetensors: hostile headers', () => {
  it('deeply nested JSON is refused without a stack overflow', async () => {
    const deep = '{"x":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}';
    await rejectsWith(rawFile(deep, 0), 'InvalidHeaderDeserialization');
    const deepObj =
      '{"__metadata__":' + '{"a":'.repeat(100_000) + '"x"' + '}'.repeat(100_000) + '}';
    await rejectsWith(rawFile(deepObj, 0), 'InvalidHeaderDeserialization');
  });

  it('a length prefix of 2^63 does not allocate', async () => {
    await rejectsWith(rawFile('{}', 0, 1n << 63n), 'HeaderTooLarge');
  });

  it('many tiny tensors and long names are fine', async () => {
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 5000; i++)
      header[`${'n'.repeat(200)}.${i}`] = { dtype: 'U8', shape: [1], data_offsets: [i, i + 1] };
    const ckpt = await open_(rawFile(JSON.stringify(header), 5000));
    assert.equal(ckpt.tensors.length, 5000);
  });
});

describe('safetensors: header-only access', () => {
  it('opens a header that claims gigabytes of data without reading it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lora-lens-'));
    try {
      const path = join(dir, 'huge.safetensors');
      const gib = 4 * 1024 ** 3;
      let text = JSON.stringify({
        w: { dtype: 'BF16', shape: [gib / 2], data_offsets: [0, gib] },
        __metadata__: { format: 'pt' },
      });
      text += ' '.repeat((8 - (text.length % 8)) % 8);
      const header = rawFile(text, 0);
      await writeFile(path, header);
      const fh = await open(path, 'r+');
      await fh.truncate(header.length + gib); // sparse: no blocks written
      await fh.close();

      const counting = new CountingByteSource(await FileByteSource.open(path));
      const ckpt = await openSafetensors(counting);
      assert.equal(ckpt.fileSize, header.length + gib);
      assert.equal(ckpt.tensors[0]?.byteLength, gib);
      assert.equal(counting.bytesRead, header.length, 'read exactly the prefix and the header');
      assert.equal(counting.reads, 2);

      const slice = await ckpt.readTensorBytes(ckpt.tensor('w'), { start: gib / 2 - 4, count: 4 });
      assert.equal(slice.length, 8);
      assert.equal(counting.bytesRead, header.length + 8);
      await ckpt.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses element ranges outside the tensor or off byte boundaries', async () => {
    const ckpt = await open_(
      buildSafetensors([
        { name: 'q', dtype: 'F4', shape: [4] },
        { name: 'f', dtype: 'F32', shape: [2] },
      ]),
    );
    await assert.rejects(
      ckpt.readTensorBytes(ckpt.tensor('f'), { start: 1, count: 2 }),
      /outside tensor/,
    );
    await assert.rejects(
      ckpt.readTensorBytes(ckpt.tensor('q'), { start: 1, count: 2 }),
      (e: unknown) => (e as CheckpointError).code === 'MisalignedSlice',
    );
    assert.equal((await ckpt.readTensorBytes(ckpt.tensor('q'), { start: 2, count: 2 })).length, 1);
  });

  it('names missing files and folders', async () => {
    await assert.rejects(
      openCheckpointFile('/nonexistent/x.safetensors'),
      (e: unknown) => (e as CheckpointError).code === 'FileNotFound',
    );
    await assert.rejects(
      openCheckpointFile(tmpdir()),
      (e: unknown) => (e as CheckpointError).code === 'UnsupportedFormat',
    );
  });
});
