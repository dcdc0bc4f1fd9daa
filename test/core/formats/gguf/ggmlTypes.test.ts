import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GGMLQuantizationType } from '@huggingface/gguf';
import { isDType } from '../../../../src/core/formats/index.js';
import { GGML_TYPES, ggmlType } from '../../../../src/core/formats/gguf/index.js';

/** gguf-py's GGML_QUANT_SIZES, written by scripts/fixtures/gguf/generate.py. */
const pySizes = JSON.parse(
  readFileSync(join(__dirname, '../../../fixtures/gguf/ggml-types.json'), 'utf8'),
) as Record<string, { id: number; block_size: number; type_size: number }>;

describe('gguf: ggml type table', () => {
  it('matches gguf-py for every type it knows', () => {
    for (const [name, py] of Object.entries(pySizes)) {
      const t = ggmlType(py.id);
      assert.ok(t, `${name} (${py.id}) is missing`);
      assert.deepEqual([t.name, t.blockSize, t.typeSize], [name, py.block_size, py.type_size]);
    }
  });

  it('uses the ids and names of @huggingface/gguf', () => {
    for (const t of GGML_TYPES) {
      assert.equal(GGMLQuantizationType[t.id], t.name, `id ${t.id}`);
    }
    const libraryIds = Object.values(GGMLQuantizationType).filter((v) => typeof v === 'number');
    assert.deepEqual(
      libraryIds.filter((id) => !ggmlType(id)),
      [],
      'every type the library knows has a size here',
    );
  });

  it('spells the plain types as safetensors does, so they decode', () => {
    const plain = GGML_TYPES.filter((t) => t.blockSize === 1).map((t) => t.name);
    assert.deepEqual(plain, ['F32', 'F16', 'I8', 'I16', 'I32', 'I64', 'F64', 'BF16']);
    for (const name of plain) assert.ok(isDType(name), name);
  });
});
