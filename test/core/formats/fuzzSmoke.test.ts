import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CheckpointError, MemoryByteSource, READERS } from '../../../src/core/formats/index.js';
import { mutate, Rng } from '../../../scripts/fuzz/mutate.js';

/** A short, fixed-seed slice of `npm run fuzz`, so every change gets some fuzzing in CI. */
const SEEDS = [
  'samples/tiny-llama-lora/adapter_model.safetensors',
  'samples/kohya-style-lora.safetensors',
  'test/fixtures/gguf/tiny-llama-lora.gguf',
  'test/fixtures/onnx/features.onnx',
].map((p) => ({ name: p.slice(p.lastIndexOf('/') + 1), bytes: new Uint8Array(readFileSync(p)) }));

describe('fuzz smoke', () => {
  it('every mutated input opens or is refused with a named error', async () => {
    const rng = new Rng(42);
    const seedBytes = SEEDS.map((s) => s.bytes);
    const failures: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const base = rng.pick(SEEDS);
      const input = mutate(base.bytes, rng, seedBytes);
      for (const reader of READERS) {
        try {
          const ckpt = await reader.open(new MemoryByteSource(input, base.name));
          await ckpt.close();
        } catch (e) {
          if (!(e instanceof CheckpointError) || e.code === 'InternalError') {
            failures.push(`${reader.format} on iteration ${i} (${base.name}): ${String(e)}`);
          }
        }
      }
    }
    assert.deepEqual(failures.slice(0, 5), []);
  });
});
