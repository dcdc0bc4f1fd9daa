import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  CountingByteSource,
  MemoryByteSource,
  type ReaderErrorCode,
} from '../../../../src/core/formats/index.js';
import { ZipArchive, openTorch } from '../../../../src/core/formats/torch/index.js';
import type { ZipEntry } from '../../../../src/core/formats/torch/zipArchive.js';
import { dataPkl, dictOps, tensorOps } from './pickleBuilder.js';
import {
  layoutZip,
  materialize,
  torchRecords,
  torchZip,
  type ZipRecord,
} from './torchZipBuilder.js';

const text = (s: string) => new Uint8Array(Buffer.from(s));
const zipOf = (records: ZipRecord[], options?: Parameters<typeof layoutZip>[1]) =>
  materialize(layoutZip(records, options));

async function zipRefuses(bytes: Uint8Array, code: ReaderErrorCode, part: string): Promise<void> {
  await assert.rejects(
    () => ZipArchive.open(new MemoryByteSource(bytes, 'z.pt')),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(part), e.message);
      return true;
    },
  );
}

async function torchRefuses(bytes: Uint8Array, code: ReaderErrorCode, part: string): Promise<void> {
  await assert.rejects(
    () => openTorch(new MemoryByteSource(bytes, 'z.pt')),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(part), e.message);
      return true;
    },
  );
}

/** Overwrites little-endian integers in a copy. */
function patch(bytes: Uint8Array, at: number, size: number, value: number): Uint8Array {
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  if (size === 2) dv.setUint16(at, value, true);
  else if (size === 4) dv.setUint32(at, value, true);
  else dv.setBigUint64(at, BigInt(value), true);
  return out;
}

function first(zip: ZipArchive): ZipEntry {
  const e = zip.entries[0];
  assert.ok(e);
  return e;
}

function lastIndexOf(bytes: Uint8Array, sig: number[]): number {
  return Buffer.from(bytes).lastIndexOf(Buffer.from(sig));
}
const EOCD = [0x50, 0x4b, 0x05, 0x06];
const CENTRAL = [0x50, 0x4b, 0x01, 0x02];

describe('zip reader', () => {
  it('reads STORED and DEFLATE records, local-header data offsets and an archive comment', async () => {
    const payload = text('hello '.repeat(100));
    const bytes = zipOf(
      [
        { name: 'a/one', data: text('1') },
        { name: 'a/two', data: payload, deflate: true },
      ],
      { comment: 'x'.repeat(5000) },
    );
    const zip = await ZipArchive.open(new MemoryByteSource(bytes));
    assert.deepEqual(
      zip.entries.map((e) => [e.name, e.method]),
      [
        ['a/one', 0],
        ['a/two', 8],
      ],
    );
    const one = zip.entry('a/one');
    assert.ok(one);
    assert.equal(
      (await zip.dataStart(one)) % 64,
      0,
      'STORED data is 64-byte aligned by the FB extra',
    );
    assert.deepEqual(await zip.read(one, 10), text('1'));
    assert.deepEqual(await zip.read(zip.entry('a/two') ?? first(zip), 1e6), payload);
    await assert.rejects(
      () => zip.read(zip.entry('a/two') ?? first(zip), 10),
      (e: unknown) => e instanceof CheckpointError && e.code === 'LimitExceeded',
    );
  });

  it('reads ZIP64 end records and extra fields', async () => {
    const bytes = zipOf([{ name: 'a/x', data: text('abc') }], { zip64: true });
    const zip = await ZipArchive.open(new MemoryByteSource(bytes));
    assert.equal(zip.zip64, true);
    const e = zip.entry('a/x');
    assert.ok(e);
    assert.equal(e.uncompressedSize, 3);
    assert.deepEqual(await zip.read(e, 10), text('abc'));
  });

  it('refuses broken end records and central directories by name', async () => {
    const good = zipOf([{ name: 'a/x', data: text('abc') }]);
    const eocd = lastIndexOf(good, EOCD);
    const cd = lastIndexOf(good, CENTRAL);
    await zipRefuses(good.subarray(0, 10), 'Truncated', 'too short');
    await zipRefuses(good.subarray(0, eocd + 10), 'Truncated', 'end-of-central-directory');
    await zipRefuses(patch(good, eocd + 16, 4, good.byteLength + 10), 'InvalidZip', 'past the end');
    await zipRefuses(patch(good, eocd + 12, 4, 1000), 'InvalidZip', 'central directory');
    await zipRefuses(patch(good, eocd + 10, 2, 2), 'InvalidZip', '2 records');
    await zipRefuses(patch(good, eocd + 4, 2, 1), 'InvalidZip', 'split');
    await zipRefuses(patch(good, cd + 8, 2, 1), 'InvalidZip', 'encrypted');
    await zipRefuses(patch(good, cd + 10, 2, 12), 'InvalidZip', 'method 12');
    await zipRefuses(patch(good, cd + 20, 4, 2), 'InvalidZip', 'stored uncompressed');
    await zipRefuses(
      patch(patch(good, cd + 20, 4, 1e9), cd + 24, 4, 1e9),
      'InvalidZip',
      'more than fit',
    );
    await zipRefuses(patch(good, cd + 42, 4, 1e6), 'InvalidZip', 'local header');
    await zipRefuses(patch(good, cd, 4, 0), 'InvalidZip', 'malformed');
    const dup = zipOf([
      { name: 'a/x', data: text('1') },
      { name: 'a/x', data: text('2') },
    ]);
    await zipRefuses(dup, 'InvalidZip', 'two records named "a/x"');
  });

  it('refuses a ZIP64 locator that points nowhere', async () => {
    const good = zipOf([{ name: 'a/x', data: text('abc') }], { zip64: true });
    const locator = lastIndexOf(good, [0x50, 0x4b, 0x06, 0x07]);
    await zipRefuses(
      patch(good, locator + 8, 8, good.byteLength),
      'InvalidZip',
      'ZIP64 end record',
    );
    await zipRefuses(patch(good, locator + 8, 8, 0), 'InvalidZip', 'no ZIP64 end record');
  });

  it('refuses a local header that does not match, or data that runs into the directory', async () => {
    const good = zipOf([{ name: 'a/x', data: text('abc') }]);
    const zip1 = await ZipArchive.open(new MemoryByteSource(patch(good, 0, 4, 0)));
    await assert.rejects(() => zip1.read(first(zip1), 10), /no local header/);
    const zip2 = await ZipArchive.open(new MemoryByteSource(patch(good, 26, 2, 9)));
    await assert.rejects(() => zip2.read(first(zip2), 10), /different file/);
    const zip3 = await ZipArchive.open(new MemoryByteSource(patch(good, 28, 2, 60000)));
    await assert.rejects(() => zip3.read(first(zip3), 10), /run into the central directory/);
  });

  it('stops a DEFLATE bomb at its declared size, and refuses corrupt DEFLATE data', async () => {
    const bomb = zipOf([{ name: 'a/x', data: new Uint8Array(8 << 20), deflate: true }]);
    const cd = lastIndexOf(bomb, CENTRAL);
    const lying = patch(bomb, cd + 24, 4, 100);
    const zip = await ZipArchive.open(new MemoryByteSource(lying));
    await assert.rejects(() => zip.read(first(zip), 1e9), /inflates to more than the 100 bytes/);
    const short = patch(bomb, cd + 24, 4, 9 << 20);
    const zip2 = await ZipArchive.open(new MemoryByteSource(short));
    await assert.rejects(() => zip2.read(first(zip2), 1e9), /not the 9437184/);
    const garbage = zipOf([{ name: 'a/x', data: text('abc'), deflate: true }]);
    const plain = await ZipArchive.open(new MemoryByteSource(garbage));
    const start = await plain.dataStart(first(plain));
    const broken = garbage.slice();
    broken[start] = 0xff;
    const zip3 = await ZipArchive.open(new MemoryByteSource(broken));
    await assert.rejects(() => zip3.read(first(zip3), 100), /corrupt|inflates/);
    assert.ok(deflateRawSync(new Uint8Array(8 << 20)).byteLength < 20_000);
  });
});

describe('torch archive layout', () => {
  const pkl = dataPkl(dictOps([['w', tensorOps({ key: '0', numel: 2, shape: [2] })]]));
  const storage = new Uint8Array(Float32Array.from([1, 2]).buffer);

  it('takes the folder from the first record, whatever it is called', async () => {
    const ckpt = await openTorch(
      new MemoryByteSource(torchZip(pkl, { '0': storage }, { folder: 'my model' }), 'x.pt'),
    );
    assert.equal(ckpt.metadata['torch.archive_folder'], 'my model');
    assert.equal(ckpt.tensors[0]?.name, 'w');
  });

  it('refuses records outside one folder, an empty zip, a zip without data.pkl, TorchScript', async () => {
    await torchRefuses(
      zipOf([{ name: 'data.pkl', data: pkl }]),
      'InvalidZip',
      'not in a subdirectory',
    );
    await torchRefuses(
      zipOf([
        { name: 'a/data.pkl', data: pkl },
        { name: 'b/data/0', data: storage },
      ]),
      'InvalidZip',
      'outside the archive folder "a/"',
    );
    await torchRefuses(zipOf([]), 'InvalidZip', 'no records');
    await torchRefuses(
      zipOf([{ name: 'a/other.pkl', data: pkl }]),
      'UnsupportedTorchFormat',
      'no a/data.pkl',
    );
    await torchRefuses(
      zipOf([
        { name: 'a/data.pkl', data: pkl },
        { name: 'a/code/__torch__/m.py', data: text('') },
      ]),
      'UnsupportedTorchFormat',
      'TorchScript',
    );
  });

  it('refuses an unknown byteorder and a huge declared data.pkl', async () => {
    await torchRefuses(
      torchZip(pkl, { '0': storage }, { byteorder: 'middle' }),
      'UnsupportedTorchFormat',
      'middle',
    );
    const bytes = torchZip(pkl, { '0': storage }, { deflate: ['data.pkl'] });
    // data.pkl is the first central directory entry; declare 3 GB uncompressed.
    const pklEntry = Buffer.from(bytes).indexOf(Buffer.from(CENTRAL));
    await torchRefuses(
      patch(bytes, pklEntry + 24, 4, 3e9),
      'LimitExceeded',
      'declares 3,000,000,000 bytes',
    );
  });

  it('reads a DEFLATE data.pkl and DEFLATE storages, with offset -1 for the latter', async () => {
    const ckpt = await openTorch(
      new MemoryByteSource(
        torchZip(pkl, { '0': storage }, { deflate: ['data.pkl', 'data/0'] }),
        'x.pt',
      ),
    );
    const w = ckpt.tensor('w');
    assert.equal(w.offset, -1);
    assert.deepEqual(await ckpt.readTensorBytes(w), storage);
  });

  it('lists a large checkpoint reading only headers', async () => {
    const mb = 1 << 20;
    const tensors = Array.from(
      { length: 8 },
      (_, i) =>
        [
          `layers.${i}.weight`,
          tensorOps({ key: String(i), numel: mb, shape: [1024, 1024] }),
        ] as const,
    );
    const storages = Object.fromEntries(tensors.map((_, i) => [String(i), 4 * mb]));
    const file = materialize(layoutZip(torchRecords(dataPkl(dictOps(tensors)), storages)));
    const counter = new CountingByteSource(new MemoryByteSource(file, 'big.pt'));
    const ckpt = await openTorch(counter);
    assert.equal(ckpt.tensors.length, 8);
    assert.equal(ckpt.dataBytes, 32 * mb);
    assert.ok(
      counter.bytesRead < 16 * 1024,
      `${counter.bytesRead} bytes read of ${file.byteLength}`,
    );
    const before = counter.bytesRead;
    const some = await ckpt.readTensorBytes(ckpt.tensor('layers.7.weight'), {
      start: 10,
      count: 4,
    });
    assert.equal(some.byteLength, 16);
    assert.equal(counter.bytesRead - before, 16, 'an element range is one ranged read');
  });
});
