import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GGUFValueType, type MetadataValue } from '@huggingface/gguf';
import { MemoryByteSource } from '../../../../src/core/formats/index.js';
import {
  arrayText,
  ggufReader,
  scalarText,
  type GgufValueType,
} from '../../../../src/core/formats/gguf/index.js';
import { ARCH_LLAMA, buildGguf } from './ggufBuilder.js';
import { parseWithLibrary } from './libraryOracle.js';

const FIXTURES = join(__dirname, '../../../fixtures/gguf');

type ArrayItem = Parameters<typeof arrayText>[2][number];

/** The text our reader should give a value the library parsed (first items of arrays only). */
function expectedText(value: MetadataValue, type: GGUFValueType, subType?: GGUFValueType): string {
  if (type !== GGUFValueType.ARRAY) return scalarText(type as GgufValueType, value as string);
  const items = value as MetadataValue[];
  const element = (subType ?? GGUFValueType.UINT8) as GgufValueType;
  const first: ArrayItem[] = items
    .slice(0, 32)
    .map((v) =>
      Array.isArray(v) ? { arrayText: expectedText(v, GGUFValueType.ARRAY, nestedType(v)) } : v,
    );
  return arrayText(items.length, element, first);
}

/** The library does not report element types of nested arrays; our fixtures nest i32 arrays. */
const nestedType = (v: MetadataValue[]) =>
  typeof v[0] === 'string' ? GGUFValueType.STRING : GGUFValueType.INT32;

async function assertAgrees(bytes: Uint8Array): Promise<void> {
  const ours = await ggufReader.open(new MemoryByteSource(bytes, 'x.gguf'));
  const lib = await parseWithLibrary(bytes);
  const dataStart = Number(lib.tensorDataOffset);
  assert.equal(ours.headerByteLength, Math.min(dataStart, bytes.byteLength));
  const libTensors = lib.tensorInfos
    .map((t) => ({
      name: t.name,
      type: t.dtype as number,
      shape: t.shape.map(Number).reverse(),
      offset: dataStart + Number(t.offset),
    }))
    .sort((a, b) => a.offset - b.offset);
  assert.deepEqual(
    ours.tensors.map((t) => [t.name, t.shape, t.offset]),
    libTensors.map((t) => [t.name, t.shape, t.offset]),
  );
  const skip = new Set(['version', 'tensor_count', 'kv_count']);
  const libKeys = Object.keys(lib.typedMetadata).filter((k) => !skip.has(k));
  const ourKeys = Object.keys(ours.metadata).filter((k) => !k.startsWith('gguf.'));
  assert.deepEqual(ourKeys, libKeys);
  const typed = lib.typedMetadata as unknown as Record<
    string,
    { value: MetadataValue; type: GGUFValueType; subType?: GGUFValueType }
  >;
  for (const key of libKeys) {
    const entry = typed[key];
    assert.ok(entry);
    assert.equal(ours.metadata[key], expectedText(entry.value, entry.type, entry.subType), key);
  }
}

describe('gguf: agrees with @huggingface/gguf', () => {
  for (const name of ['tiny-llama', 'tiny-llama-lora', 'tiny-llama-be']) {
    it(`on ${name}.gguf`, async () => {
      await assertAgrees(new Uint8Array(readFileSync(join(FIXTURES, `${name}.gguf`))));
    });
  }

  it('on a version 1 file', async () => {
    const { bytes } = buildGguf({
      version: 1,
      kvs: [ARCH_LLAMA],
      tensors: [{ name: 'w', ne: [2, 3], type: 1, data: new Uint8Array(12) }],
    });
    await assertAgrees(bytes);
  });

  it('on a header that spans several read windows', async () => {
    const tokens = Array.from({ length: 50_000 }, (_, i) => `tok${i}`);
    const { bytes } = buildGguf({
      kvs: [
        ARCH_LLAMA,
        { key: 'tokenizer.ggml.tokens', type: GGUFValueType.ARRAY, value: tokens, subType: 8 },
        { key: 'x.after', type: GGUFValueType.FLOAT32, value: 0.25 },
      ],
      tensors: [{ name: 'w', ne: [32], type: 8, data: new Uint8Array(34) }],
    });
    await assertAgrees(bytes);
  });
});
