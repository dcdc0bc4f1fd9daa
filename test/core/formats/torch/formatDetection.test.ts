import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointError, MemoryByteSource } from '../../../../src/core/formats/index.js';
import {
  detectContainer,
  openTorch,
  torchReader,
} from '../../../../src/core/formats/torch/index.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const ZIP = bytes(0x50, 0x4b, 0x03, 0x04, 0, 0);
const LEGACY = bytes(
  0x80,
  0x02,
  0x8a,
  0x0a,
  0x6c,
  0xfc,
  0x9c,
  0x46,
  0xf9,
  0x20,
  0x6a,
  0xa8,
  0x50,
  0x19,
  0x2e,
);

describe('torch format detection', () => {
  it('sniffs torch names with a zip, pickle or torch-tar start', () => {
    for (const name of ['pytorch_model.bin', 'model.PT', 'a.pth', 'last.ckpt']) {
      assert.equal(torchReader.sniff(ZIP, name), true, name);
      assert.equal(torchReader.sniff(LEGACY, name), true, name);
    }
    assert.equal(torchReader.sniff(new TextEncoder().encode('sys_info\0\0\0'), 'old.pt'), true);
    assert.equal(torchReader.sniff(ZIP, 'weights.npz'), false);
    assert.equal(torchReader.sniff(ZIP, 'model.safetensors'), false);
    assert.equal(
      torchReader.sniff(bytes(0x47, 0x47, 0x55, 0x46), 'model.bin'),
      false,
      'GGUF named .bin',
    );
    assert.equal(torchReader.sniff(bytes(), 'empty.bin'), false);
  });

  it('tells the layouts apart', () => {
    assert.equal(detectContainer(ZIP), 'zip');
    assert.equal(detectContainer(bytes(0x50, 0x4b, 0x05, 0x06)), 'zip');
    assert.equal(detectContainer(LEGACY), 'legacy');
    // Protocol 4 legacy files put a FRAME before the magic number.
    assert.equal(
      detectContainer(bytes(0x80, 0x04, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, ...LEGACY.subarray(2))),
      'legacy',
    );
    assert.equal(detectContainer(bytes(0x80, 0x02, 0x7d, 0x2e)), 'pickle');
    assert.equal(detectContainer(new TextEncoder().encode('PYTORCH1')), 'preview');
    const tar = new Uint8Array(512);
    tar.set(new TextEncoder().encode('ustar'), 257);
    assert.equal(detectContainer(tar), 'tar');
    assert.equal(detectContainer(bytes(1, 2, 3)), 'unknown');
  });

  it('refuses every non-zip layout by name without unpickling', async () => {
    const cases: [Uint8Array, string, RegExp][] = [
      [LEGACY, 'UnsupportedTorchFormat', /legacy \(pre-1\.6\)/],
      [bytes(0x80, 0x02, 0x7d, 0x2e), 'UnsupportedTorchFormat', /plain pickle stream/],
      [new TextEncoder().encode('PYTORCH1 and more'), 'UnsupportedTorchFormat', /PYTORCH1/],
      [bytes(1, 2, 3, 4), 'InvalidZip', /neither a zip/],
    ];
    for (const [file, code, message] of cases) {
      await assert.rejects(
        () => openTorch(new MemoryByteSource(file, 'x.pt')),
        (e: unknown) => e instanceof CheckpointError && e.code === code && message.test(e.message),
      );
    }
  });
});
