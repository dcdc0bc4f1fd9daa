import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  decodeValues,
  FileByteSource,
  isDType,
  MemoryByteSource,
  openCheckpointFile,
  type Checkpoint,
} from '../../../../src/core/formats/index.js';
import { ggufReader } from '../../../../src/core/formats/gguf/index.js';

const FIXTURES = join(__dirname, '../../../fixtures/gguf');

interface ExpectedTensor {
  name: string;
  type: string;
  ne: number[];
  torch_shape: number[];
  n_elements: number;
  n_bytes: number;
  data_offset: number;
  head?: number[];
  sum?: number;
}

interface ExpectedField {
  type: string;
  value?: unknown;
  element_type?: string;
  length?: number;
  head?: unknown[];
}

interface Expected {
  file_size: number;
  byte_order: 'little' | 'big';
  alignment: number;
  data_offset: number;
  fields: Record<string, ExpectedField>;
  tensors: ExpectedTensor[];
}

const expected = (name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, `${name}.expected.json`), 'utf8')) as Expected;

async function openFixture(name: string): Promise<Checkpoint> {
  return ggufReader.open(await FileByteSource.open(join(FIXTURES, `${name}.gguf`)));
}

async function withFixture(name: string, body: (c: Checkpoint) => Promise<void>): Promise<void> {
  const ckpt = await openFixture(name);
  try {
    await body(ckpt);
  } finally {
    await ckpt.close();
  }
}

/** Every tensor against GGUFReader's facts: names, ggml types, dims reversed, sizes, offsets. */
function assertListing(ckpt: Checkpoint, exp: Expected): void {
  assert.equal(ckpt.format, 'gguf');
  assert.equal(ckpt.fileSize, exp.file_size);
  assert.equal(ckpt.headerByteLength, exp.data_offset);
  assert.equal(ckpt.tensors.length, exp.tensors.length);
  const byOffset = [...exp.tensors].sort((a, b) => a.data_offset - b.data_offset);
  assert.deepEqual(
    ckpt.tensors.map((t) => [t.name, t.dtype, t.shape, t.parameterCount, t.byteLength, t.offset]),
    byOffset.map((t) => [t.name, t.type, t.torch_shape, t.n_elements, t.n_bytes, t.data_offset]),
  );
  for (const t of exp.tensors) {
    assert.deepEqual([...ckpt.tensor(t.name).shape].reverse(), t.ne, t.name);
  }
  const total = (f: (t: ExpectedTensor) => number) => exp.tensors.reduce((n, t) => n + f(t), 0);
  assert.equal(
    ckpt.parameterCount,
    total((t) => t.n_elements),
  );
  assert.equal(
    ckpt.dataBytes,
    total((t) => t.n_bytes),
  );
}

/** Decodes every plain tensor whole and compares with the values GGUFReader read. */
async function assertValues(
  ckpt: Checkpoint,
  exp: Expected,
  skip: readonly string[] = [],
): Promise<number> {
  let checked = 0;
  for (const t of exp.tensors) {
    if (t.head === undefined || t.sum === undefined || !isDType(t.type)) continue;
    if (skip.includes(t.type)) continue;
    const values = decodeValues(await ckpt.readTensorBytes(ckpt.tensor(t.name)), t.type);
    assert.equal(values.length, t.n_elements, t.name);
    assert.deepEqual([...values.slice(0, t.head.length)], t.head, t.name);
    const sum = values.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - t.sum) <= 1e-9 * Math.max(1, Math.abs(t.sum)), `${t.name}: ${sum}`);
    checked++;
  }
  return checked;
}

describe('gguf: tiny llama model written by gguf-py', () => {
  const exp = expected('tiny-llama');

  it('lists every tensor as GGUFReader does, with dims in PyTorch order', async () => {
    await withFixture('tiny-llama', async (ckpt) => {
      assertListing(ckpt, exp);
      assert.deepEqual(ckpt.tensor('token_embd.weight').shape, [300, 32]);
      assert.deepEqual(ckpt.tensor('blk.0.ffn_down.weight').shape, [32, 64]);
      assert.equal(ckpt.warnings, undefined);
      assert.deepEqual(
        ckpt.dtypes.map((d) => [d.dtype, d.tensors, d.bytes]),
        [
          ['F16', 12, 54016],
          ['Q8_0', 1, 10200],
          ['F32', 7, 8832],
          ['BF16', 1, 2048],
        ],
      );
    });
  });

  it('reads and decodes F32, F16 and BF16 tensors exactly', async () => {
    await withFixture('tiny-llama', async (ckpt) => {
      assert.equal(await assertValues(ckpt, exp), 20);
      // blk.0.attn_q.weight holds i / 64 in row-major PyTorch order.
      const q = ckpt.tensor('blk.0.attn_q.weight');
      const slice = decodeValues(await ckpt.readTensorBytes(q, { start: 32, count: 3 }), 'F32');
      assert.deepEqual([...slice], [0.5, 33 / 64, 34 / 64]);
    });
  });

  it('reads a quantized tensor whole, refuses element ranges of it', async () => {
    await withFixture('tiny-llama', async (ckpt) => {
      const out = ckpt.tensor('output.weight');
      assert.equal(out.dtype, 'Q8_0');
      assert.equal((await ckpt.readTensorBytes(out)).byteLength, (9600 / 32) * 34);
      await assert.rejects(
        ckpt.readTensorBytes(out, { start: 0, count: 32 }),
        (e: unknown) => e instanceof CheckpointError && e.code === 'UnsupportedDtype',
      );
    });
  });

  it('gives every KV pair as text, plus gguf.version and gguf.alignment', async () => {
    await withFixture('tiny-llama', async (ckpt) => {
      const m = ckpt.metadata;
      assert.equal(Object.getPrototypeOf(m), null);
      assert.deepEqual(Object.keys(m), [
        'gguf.version',
        'gguf.alignment',
        ...Object.keys(exp.fields),
      ]);
      assert.equal(m['gguf.version'], '3');
      assert.equal(m['gguf.alignment'], '32');
      for (const [key, field] of Object.entries(exp.fields)) {
        const text = m[key];
        assert.ok(text !== undefined, key);
        if (field.type === 'STRING') assert.equal(text, field.value, key);
        else if (field.type === 'FLOAT32' || field.type === 'FLOAT64') {
          const back = field.type === 'FLOAT32' ? Math.fround(Number(text)) : Number(text);
          assert.equal(back, field.value, key);
        } else if (field.type !== 'ARRAY') assert.equal(text, String(field.value), key);
      }
      assert.equal(m['llama.attention.layer_norm_rms_epsilon'], '0.00001');
      assert.equal(m['lora_lens.fixture.f32'], '0.1');
      assert.equal(m['lora_lens.fixture.u64'], '9223372036854775813');
      assert.equal(m['lora_lens.fixture.bool'], 'true');
      assert.equal(m['lora_lens.fixture.nested'], '[[1,2],[3]]');
      assert.equal(m['lora_lens.fixture.short_strings'], '["a","b"]');
      assert.equal(
        m['tokenizer.ggml.tokens'],
        '[array of 300 strings] ["<unk>","<s>","</s>","<0x00>","<0x01>",…]',
      );
      assert.equal(m['tokenizer.ggml.token_type'], '[array of 300 i32] [2,3,3,6,6,…]');
      assert.equal(m['general.architecture'], 'llama');
      assert.equal(m['general.type'], undefined);
    });
  });
});

describe('gguf: LoRA adapter in the convert_lora_to_gguf.py layout', () => {
  const exp = expected('tiny-llama-lora');

  it('lists lora_a as (rank, in) and lora_b as (out, rank)', async () => {
    await withFixture('tiny-llama-lora', async (ckpt) => {
      assertListing(ckpt, exp);
      assert.deepEqual(
        ckpt.tensors.map((t) => `${t.name} ${t.dtype} [${t.shape.join(',')}]`),
        [0, 1].flatMap((b) =>
          ['attn_q', 'attn_v'].flatMap((p) => [
            `blk.${b}.${p}.weight.lora_a F32 [4,32]`,
            `blk.${b}.${p}.weight.lora_b F16 [32,4]`,
          ]),
        ),
      );
      assert.equal(await assertValues(ckpt, exp), 8);
    });
  });

  it('keeps the adapter KVs as they are', async () => {
    await withFixture('tiny-llama-lora', async (ckpt) => {
      const m = ckpt.metadata;
      assert.equal(m['general.type'], 'adapter');
      assert.equal(m['adapter.type'], 'lora');
      assert.equal(m['adapter.lora.alpha'], '16');
      assert.equal(m['general.architecture'], 'llama');
      assert.deepEqual(exp.fields['adapter.lora.alpha'], { type: 'FLOAT32', value: 16 });
    });
  });
});

describe('gguf: big-endian file', () => {
  const exp = expected('tiny-llama-be');

  it('lists it, warns, and byte-swaps plain tensors to little-endian', async () => {
    assert.equal(exp.byte_order, 'big');
    await withFixture('tiny-llama-be', async (ckpt) => {
      assertListing(ckpt, exp);
      assert.match(ckpt.warnings?.join('\n') ?? '', /big-endian/);
      assert.equal(ckpt.metadata['lora_lens.fixture.u64'], '9223372036854775813');
      assert.equal(ckpt.metadata['lora_lens.fixture.i16'], '-30000');
      assert.equal(await assertValues(ckpt, exp, ['BF16']), 19);
      const q = ckpt.tensor('blk.0.attn_q.weight');
      const slice = decodeValues(await ckpt.readTensorBytes(q, { start: 32, count: 2 }), 'F32');
      assert.deepEqual([...slice], [0.5, 33 / 64]);
    });
  });

  it('refuses to read quantized and BF16 tensors, whose byte order writers do not agree on', async () => {
    // gguf-py writes them as raw bytes and never swaps them; a native big-endian ggml would.
    await withFixture('tiny-llama-be', async (ckpt) => {
      for (const name of ['output.weight', 'blk.1.attn_k.weight']) {
        await assert.rejects(
          ckpt.readTensorBytes(ckpt.tensor(name)),
          (e: unknown) =>
            e instanceof CheckpointError &&
            e.code === 'UnsupportedDtype' &&
            /big-endian/.test(e.message),
          name,
        );
      }
    });
  });
});

describe('gguf: sniff', () => {
  const head = (bytes: number[]) => new Uint8Array(bytes);
  it('knows the magic and the extension', () => {
    assert.equal(ggufReader.sniff(head([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]), 'model.bin'), true);
    assert.equal(ggufReader.sniff(head([]), 'Model.GGUF'), true);
    assert.equal(ggufReader.sniff(head([0x47, 0x47, 0x55]), 'x'), false);
    assert.equal(ggufReader.sniff(head([0x7b, 0, 0, 0, 0, 0, 0, 0]), 'model.safetensors'), false);
  });

  it('is chosen by openCheckpointFile', async () => {
    const ckpt = await openCheckpointFile(join(FIXTURES, 'tiny-llama-lora.gguf'));
    assert.equal(ckpt.format, 'gguf');
    await ckpt.close();
  });

  it('opens from memory as well as from a file', async () => {
    const bytes = readFileSync(join(FIXTURES, 'tiny-llama-lora.gguf'));
    const ckpt = await ggufReader.open(new MemoryByteSource(new Uint8Array(bytes), 'a.gguf'));
    assert.equal(ckpt.name, 'a.gguf');
    assert.equal(ckpt.tensors.length, 8);
  });
});
