import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CountingByteSource,
  FileByteSource,
  decodeValues,
  isDType,
  openSafetensors,
  type ByteSource,
  type Checkpoint,
  type TensorInfo,
} from '../../../../src/core/formats/index.js';
import { LocalFolder } from '../../../../src/core/formats/files.js';
import { openOnnx } from '../../../../src/core/formats/onnx/index.js';

// Facts written by scripts/fixtures/onnx/generate.py with the Python onnx package.
const FIXTURES = join(__dirname, '../../../fixtures/onnx');
const TINY_LLAMA = join(__dirname, '../../../../samples/tiny-llama/model.safetensors');

interface ExpectedInitializer {
  name: string;
  dtype: string;
  dims: number[];
  storage: string;
  consumers: { op: string; node: string }[];
  values: (number | string | boolean | number[])[];
  byteLength?: number;
  sha256?: string;
  external?: { location: string; offset: number; length: number };
  transposeOf?: string;
}

interface ExpectedModel {
  fileSize: number;
  irVersion: number;
  opsetImport: Record<string, number>;
  producerName: string;
  producerVersion: string;
  modelVersion: number;
  graphName: string;
  metadataProps: Record<string, string>;
  nodeCount: number;
  nodeCountWithSubgraphs: number;
  inputCount: number;
  outputCount: number;
  sparseInitializerCount: number;
  initializers: ExpectedInitializer[];
}

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<
  string,
  ExpectedModel
>;

function fixture(name: string): ExpectedModel {
  const facts = expected[name];
  assert.ok(facts, `expected.json has no entry for ${name}`);
  return facts;
}

async function openFixture(
  name: string,
  wrap?: (s: ByteSource) => ByteSource,
): Promise<Checkpoint> {
  const path = join(FIXTURES, name);
  const source = await FileByteSource.open(path);
  return openOnnx(wrap ? wrap(source) : source, { siblings: new LocalFolder(dirname(path)) });
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Values the way generate.py lists them, from the little-endian bytes. */
function firstValues(bytes: Uint8Array, t: TensorInfo, count: number): unknown[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (t.dtype) {
    case 'I64':
    case 'U64': {
      const get = (i: number) =>
        t.dtype === 'I64' ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
      return Array.from({ length: count }, (_, i) => {
        const v = get(i);
        return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : String(v);
      });
    }
    case 'BOOL':
      return [...bytes.subarray(0, count)].map((b) => b !== 0);
    case 'INT4':
      return Array.from({ length: count }, (_, i) => {
        const nibble = ((bytes[i >> 1] as number) >> ((i & 1) * 4)) & 0xf;
        return nibble >= 8 ? nibble - 16 : nibble;
      });
    case 'C64': {
      const parts = [...decodeValues(bytes, 'C64')];
      return Array.from({ length: count }, (_, i) => [parts[2 * i], parts[2 * i + 1]]);
    }
    default:
      assert.ok(isDType(t.dtype), `no decoder for ${t.dtype}`);
      return [...decodeValues(bytes, t.dtype).subarray(0, count)];
  }
}

/** Checks one model against everything Python onnx said about it. */
async function checkAgainstExpected(name: string): Promise<Checkpoint> {
  const facts = fixture(name);
  const ckpt = await openFixture(name);
  assert.equal(ckpt.format, 'onnx');
  assert.equal(ckpt.fileSize, facts.fileSize);
  assert.deepEqual(
    ckpt.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      dims: t.shape,
      // expected.json records op and node; dynamo scopes are checked on their own below.
      consumers: t.consumers?.map(({ op, node }) => ({ op, node })),
    })),
    facts.initializers.map((i) => ({
      name: i.name,
      dtype: i.dtype,
      dims: i.dims,
      consumers: i.consumers,
    })),
  );
  for (const e of facts.initializers) {
    const t = ckpt.tensor(e.name);
    assert.equal(
      t.parameterCount,
      e.dims.reduce((a, b) => a * b, 1),
      e.name,
    );
    if (e.byteLength !== undefined) assert.equal(t.byteLength, e.byteLength, e.name);
    if (e.storage.endsWith('_data') || e.storage === 'empty') assert.equal(t.offset, -1, e.name);
    if (e.external) {
      assert.equal(t.file, e.external.location, e.name);
      assert.equal(t.offset, e.external.offset, e.name);
      assert.equal(t.byteLength, e.external.length, e.name);
    } else {
      assert.equal(t.file, undefined, e.name);
    }
    if (e.sha256 === undefined) continue; // STRING
    const bytes = await ckpt.readTensorBytes(t);
    assert.equal(sha256(bytes), e.sha256, `bytes of ${e.name}`);
    assert.deepEqual(firstValues(bytes, t, e.values.length), e.values, `values of ${e.name}`);
  }
  const m = ckpt.metadata;
  assert.equal(m['onnx.ir_version'], String(facts.irVersion));
  assert.equal(
    m['onnx.opset_import'],
    Object.entries(facts.opsetImport)
      .map(([d, v]) => `${d}=${v}`)
      .join(', '),
  );
  assert.equal(m['onnx.producer_name'], facts.producerName);
  assert.equal(m['onnx.producer_version'], facts.producerVersion);
  assert.equal(m['onnx.graph.name'], facts.graphName);
  assert.equal(m['onnx.graph.nodes'], String(facts.nodeCount));
  const subgraphNodes = facts.nodeCountWithSubgraphs - facts.nodeCount;
  assert.equal(m['onnx.graph.subgraph_nodes'], subgraphNodes ? String(subgraphNodes) : undefined);
  assert.equal(m['onnx.graph.inputs'], String(facts.inputCount));
  assert.equal(m['onnx.graph.outputs'], String(facts.outputCount));
  assert.equal(m['onnx.graph.initializers'], String(facts.initializers.length));
  for (const [k, v] of Object.entries(facts.metadataProps)) assert.equal(m[`onnx.meta.${k}`], v);
  return ckpt;
}

/** Anonymous transposed weights: read by one MatMul and equal to the checkpoint weight transposed. */
async function checkTransposedWeights(ckpt: Checkpoint, name: string, nodePattern: RegExp) {
  const base = await openSafetensors(await FileByteSource.open(TINY_LLAMA));
  try {
    const anonymous = fixture(name).initializers.filter((i) => i.transposeOf);
    assert.equal(anonymous.length, 15, 'the 14 layer projections and lm_head');
    for (const e of anonymous) {
      const t = ckpt.tensor(e.name);
      const source = base.tensor(e.transposeOf as string);
      assert.deepEqual(t.shape, [...source.shape].reverse(), e.name);
      assert.equal(t.consumers?.length, 1, e.name);
      assert.equal(t.consumers?.[0]?.op, 'MatMul', e.name);
      assert.match(t.consumers?.[0]?.node ?? '', nodePattern, e.name);
      const onnxValues = decodeValues(await ckpt.readTensorBytes(t), 'F32');
      const weight = decodeValues(await base.readTensorBytes(source), 'F32');
      const [rows, cols] = source.shape as [number, number];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          if (onnxValues[c * rows + r] !== weight[r * cols + c]) {
            assert.fail(`${e.name}[${c}, ${r}] differs from ${e.transposeOf}[${r}, ${c}]`);
          }
        }
      }
    }
  } finally {
    await base.close();
  }
}

describe('onnx: TorchScript export of tiny-llama (inline raw_data)', () => {
  const name = 'tiny-llama-legacy.onnx';

  it('lists every initializer with dtype, dims, consumers and exact bytes', async () => {
    const ckpt = await checkAgainstExpected(name);
    assert.equal(ckpt.warnings, undefined);
    await ckpt.close();
  });

  it('names anonymous onnx::MatMul_N weights through their module-path MatMul node', async () => {
    const ckpt = await openFixture(name);
    const q = ckpt.tensors.find(
      (t) => t.consumers?.[0]?.node === '/model/layers.0/self_attn/q_proj/MatMul',
    );
    assert.match(q?.name ?? '', /^onnx::MatMul_\d+$/);
    await checkTransposedWeights(
      ckpt,
      name,
      /^\/(model\/layers\.[01]\/(self_attn|mlp)\/\w+_proj|lm_head)\/MatMul$/,
    );
    await ckpt.close();
  });

  it('is header-only: listing reads almost none of the raw_data', async () => {
    const ranges: [number, number][] = [];
    let counting: CountingByteSource | undefined;
    const ckpt = await openFixture(name, (source) => {
      counting = new CountingByteSource({
        name: source.name,
        size: source.size,
        read: (offset, length) => {
          ranges.push([offset, offset + length]);
          return source.read(offset, length);
        },
        close: () => source.close(),
      });
      return counting;
    });
    assert.ok(counting);
    assert.equal(ckpt.headerByteLength, counting.bytesRead);
    let dataRead = 0;
    for (const t of ckpt.tensors) {
      for (const [a, b] of ranges) {
        dataRead += Math.max(0, Math.min(b, t.offset + t.byteLength) - Math.max(a, t.offset));
      }
    }
    // Read-ahead may touch the first KiB of a tensor after its header, never the rest.
    assert.ok(dataRead <= ckpt.tensors.length * 1024, `${dataRead} bytes of tensor data read`);
    assert.ok(ckpt.dataBytes > 400_000);
    assert.ok(counting.bytesRead < ckpt.fileSize / 4, `${counting.bytesRead} of ${ckpt.fileSize}`);
    await ckpt.close();
  });
});

describe('onnx: dynamo export of tiny-llama with external data', () => {
  const name = 'tiny-llama-dynamo/model.onnx';

  it('lists every initializer, in weights.bin or inline, with offsets and exact bytes', async () => {
    const ckpt = await checkAgainstExpected(name);
    assert.equal(ckpt.warnings, undefined);
    // onnx.save_model's size_threshold keeps tensors under 1 KiB inline.
    const external = ckpt.tensors.filter((t) => t.file === 'weights.bin');
    assert.equal(external.length, 16);
    assert.ok(external.every((t) => t.byteLength >= 1024));
    assert.ok(ckpt.tensors.every((t) => t.file === 'weights.bin' || t.byteLength < 1024));
    await ckpt.close();
  });

  it('names anonymous val_N weights through their generic MatMul node', async () => {
    const ckpt = await openFixture(name);
    await checkTransposedWeights(ckpt, name, /^node_linear(_\d+)?$/);
    const q = ckpt.tensors.find((t) => t.consumers?.[0]?.node === 'node_linear');
    assert.match(q?.name ?? '', /^val_\d+$/);
    await ckpt.close();
  });

  it("gives each generic MatMul consumer the module scope from the node's metadata", async () => {
    const ckpt = await openFixture(name);
    const anonymous = fixture(name).initializers.filter((i) => i.transposeOf);
    assert.equal(anonymous.length, 15);
    for (const e of anonymous) {
      const consumer = ckpt.tensor(e.name).consumers?.[0];
      assert.equal(consumer?.op, 'MatMul', e.name);
      assert.match(consumer?.node ?? '', /^node_linear(_\d+)?$/);
      // `pkg.torch.onnx.name_scopes` ends with the node itself (`linear_3`): the module is before it.
      assert.equal(consumer?.scope, e.transposeOf?.replace(/\.weight$/, ''), e.name);
    }
    await ckpt.close();
  });

  it('reads element ranges of external tensors', async () => {
    const ckpt = await openFixture(name);
    const t = ckpt.tensor('model.embed_tokens.weight');
    const all = await ckpt.readTensorBytes(t);
    const part = await ckpt.readTensorBytes(t, { start: 64, count: 3 });
    assert.deepEqual(part, all.subarray(256, 268));
    await ckpt.close();
  });
});

describe('onnx: helper-built features model', () => {
  const name = 'features.onnx';

  it('decodes typed fields of every dtype, subgraph consumers and model metadata', async () => {
    const ckpt = await checkAgainstExpected(name);
    assert.deepEqual(ckpt.warnings, ['1 sparse initializer is not listed']);
    assert.equal(ckpt.metadata['onnx.model_version'], '3');
    assert.equal(ckpt.metadata['onnx.doc_string'], 'Fixture for the LoRA Lens ONNX reader.');
    assert.equal(ckpt.metadata['onnx.graph.sparse_initializers'], '1');
    assert.match(ckpt.metadata['onnx.graph.op_types'] ?? '', /^Add=2, Mul=2, /);
    await ckpt.close();
  });

  it('refuses to read STRING tensors by name', async () => {
    const ckpt = await openFixture(name);
    await assert.rejects(ckpt.readTensorBytes(ckpt.tensor('typed.string')), {
      code: 'UnsupportedDtype',
    });
    await ckpt.close();
  });

  it('reads element ranges of typed-field tensors', async () => {
    const ckpt = await openFixture(name);
    const bytes = await ckpt.readTensorBytes(ckpt.tensor('typed.i64'), { start: 1, count: 2 });
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(view.getBigInt64(0, true), 2n ** 40n);
    assert.equal(view.getBigInt64(8, true), -(2n ** 62n));
    await ckpt.close();
  });
});
