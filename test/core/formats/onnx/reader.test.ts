import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryByteSource,
  type ByteSource,
  type Checkpoint,
  type OpenContext,
} from '../../../../src/core/formats/index.js';
import { checkRelativePath, type Siblings } from '../../../../src/core/formats/files.js';
import { ONNX_LIMITS, onnxReader, openOnnx } from '../../../../src/core/formats/onnx/index.js';
import {
  cat,
  externalData,
  f32,
  f32Bytes,
  graph,
  len,
  model,
  node,
  str,
  tensor,
  varint,
  vint,
  type Bytes,
} from './protoBuilder.js';

const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

const openBytes = (bytes: Bytes, context?: OpenContext) =>
  openOnnx(new MemoryByteSource(bytes, 'test.onnx'), context);

const withInitializers = (...initializers: Bytes[]) => model(graph({ initializers }));

/** Files in memory, recording what is opened and closed. */
class MemorySiblings implements Siblings {
  readonly label = 'memory folder';
  opened = 0;
  closed = 0;
  constructor(private readonly files: Record<string, Bytes>) {}

  private file(path: string): Bytes | undefined {
    return this.files[checkRelativePath(path, this.label)];
  }
  async open(path: string): Promise<ByteSource> {
    const bytes = this.file(path);
    if (!bytes) throw new Error(`no ${path}`);
    this.opened++;
    const source = new MemoryByteSource(bytes, path);
    return {
      name: source.name,
      size: source.size,
      read: (o, l) => source.read(o, l),
      close: async () => {
        this.closed++;
      },
    };
  }
  async exists(path: string): Promise<boolean> {
    return this.file(path) !== undefined;
  }
  async size(path: string): Promise<number> {
    return this.file(path)?.length ?? 0;
  }
  async list(): Promise<string[]> {
    return Object.keys(this.files).sort();
  }
}

async function readF32(ckpt: Checkpoint, name: string): Promise<number[]> {
  const bytes = await ckpt.readTensorBytes(ckpt.tensor(name));
  return [...new Float32Array(bytes.slice().buffer)];
}

describe('onnx reader: tensor data', () => {
  it('reads raw_data, element ranges, and refuses ranges outside the tensor', async () => {
    const ckpt = await openBytes(
      withInitializers(
        tensor({ name: 'w', dataType: FLOAT, dims: [2, 2], raw: f32Bytes([1, 2, 3, 4]) }),
      ),
    );
    assert.deepEqual(await readF32(ckpt, 'w'), [1, 2, 3, 4]);
    const part = await ckpt.readTensorBytes(ckpt.tensor('w'), { start: 1, count: 2 });
    assert.deepEqual([...new Float32Array(part.slice().buffer)], [2, 3]);
    await assert.rejects(ckpt.readTensorBytes(ckpt.tensor('w'), { start: 3, count: 2 }), {
      code: 'InvalidRange',
    });
    assert.throws(() => ckpt.tensor('nope'), { code: 'TensorNotFound' });
  });

  it('decodes unpacked typed fields (one tag per value) as well as packed ones', async () => {
    const ckpt = await openBytes(
      withInitializers(
        tensor({
          name: 'f',
          dataType: FLOAT,
          dims: [3],
          fields: [f32(4, 1.5), f32(4, -2), f32(4, 8)],
        }),
        tensor({ name: 'i', dataType: INT64, dims: [2], fields: [vint(7, -3), vint(7, 2 ** 40)] }),
        tensor({
          name: 'p',
          dataType: INT32,
          dims: [3],
          fields: [len(5, varint(-1), varint(5), varint(300))],
        }),
      ),
    );
    assert.deepEqual(await readF32(ckpt, 'f'), [1.5, -2, 8]);
    const i = await ckpt.readTensorBytes(ckpt.tensor('i'));
    assert.deepEqual([...new BigInt64Array(i.slice().buffer)], [-3n, 2n ** 40n]);
    const p = await ckpt.readTensorBytes(ckpt.tensor('p'));
    assert.deepEqual([...new Int32Array(p.slice().buffer)], [-1, 5, 300]);
    assert.equal(ckpt.tensor('p').offset, -1);
  });

  it('checks typed value counts at open when it can, and at read otherwise', async () => {
    await assert.rejects(
      openBytes(
        withInitializers(
          tensor({ name: 'f', dataType: FLOAT, dims: [4], fields: [len(4, f32Bytes([1, 2, 3]))] }),
        ),
      ),
      { code: 'InvalidOnnx', message: /needs 4 typed values but holds 3/ },
    );
    // Three one-byte varints where two are needed: only decoding can tell.
    const ckpt = await openBytes(
      withInitializers(
        tensor({
          name: 'p',
          dataType: INT32,
          dims: [2],
          fields: [len(5, varint(1), varint(2), varint(3))],
        }),
      ),
    );
    await assert.rejects(ckpt.readTensorBytes(ckpt.tensor('p')), { code: 'InvalidOnnx' });
  });

  it('refuses values in two typed fields, or in a field the type may not use', async () => {
    await assert.rejects(
      openBytes(
        withInitializers(
          tensor({ name: 'x', dataType: FLOAT, dims: [2], fields: [f32(4, 1), vint(5, 1)] }),
        ),
      ),
      { code: 'InvalidOnnx', message: /two typed fields/ },
    );
    await assert.rejects(
      openBytes(
        withInitializers(tensor({ name: 'x', dataType: INT64, dims: [1], fields: [f32(4, 1)] })),
      ),
      { code: 'InvalidOnnx', message: /may not use/ },
    );
  });

  it('lists an unknown data type with a warning and still reads its raw bytes', async () => {
    const ckpt = await openBytes(
      withInitializers(
        tensor({ name: 'future', dataType: 99, dims: [2], raw: Uint8Array.of(1, 2, 3) }),
      ),
    );
    const t = ckpt.tensor('future');
    assert.equal(t.dtype, 'ONNX_TYPE_99');
    assert.equal(t.byteLength, 3);
    assert.match(ckpt.warnings?.[0] ?? '', /data type 99/);
    assert.deepEqual(await ckpt.readTensorBytes(t), Uint8Array.of(1, 2, 3));
  });

  it('refuses a tensor without data_type or without data', async () => {
    const noType = cat(len(1, varint(1)), str(8, 'x'), len(9, new Uint8Array(4)));
    await assert.rejects(openBytes(withInitializers(noType)), { code: 'InvalidOnnx' });
    await assert.rejects(
      openBytes(withInitializers(tensor({ name: 'x', dataType: FLOAT, dims: [2] }))),
      {
        code: 'InvalidOnnx',
        message: /no data/,
      },
    );
  });
});

describe('onnx reader: external data', () => {
  const external = (location: string, extra: Record<string, string> = {}) =>
    withInitializers(
      tensor({
        name: 'w',
        dataType: FLOAT,
        dims: [2],
        fields: externalData({ location, ...extra }),
      }),
    );

  it('reads from the sibling file at the offset, and closes it with the checkpoint', async () => {
    const data = cat(new Uint8Array(8), f32Bytes([7, 9]));
    const siblings = new MemorySiblings({ 'w.bin': data });
    const ckpt = await openBytes(external('w.bin', { offset: '8', length: '8' }), { siblings });
    const t = ckpt.tensor('w');
    assert.deepEqual([t.file, t.offset, t.byteLength], ['w.bin', 8, 8]);
    assert.deepEqual(await readF32(ckpt, 'w'), [7, 9]);
    assert.deepEqual(await readF32(ckpt, 'w'), [7, 9]);
    assert.equal(siblings.opened, 1, 'the external file is opened once');
    await ckpt.close();
    assert.equal(siblings.closed, 1);
  });

  it('refuses a length that does not match the type and shape', async () => {
    const siblings = new MemorySiblings({ 'w.bin': new Uint8Array(64) });
    await assert.rejects(openBytes(external('w.bin', { length: '12' }), { siblings }), {
      code: 'InvalidOnnx',
      message: /external length 12/,
    });
  });

  it('refuses locations outside the folder even without siblings', async () => {
    for (const location of [
      '../x.bin',
      '..\\..\\secret.bin',
      '/etc/passwd',
      'C:\\w.bin',
      'a/../../b',
    ]) {
      await assert.rejects(openBytes(external(location)), { code: 'PathOutsideFolder' }, location);
    }
  });

  it('without its folder, external tensors are listed with a warning and not readable', async () => {
    const ckpt = await openBytes(external('w.bin'));
    assert.match(ckpt.warnings?.[0] ?? '', /opened without its folder/);
    await assert.rejects(ckpt.readTensorBytes(ckpt.tensor('w')), { code: 'ExternalDataMissing' });
  });
});

describe('onnx reader: consumers and graph structure', () => {
  const w = tensor({ name: 'w', dataType: FLOAT, dims: [1], raw: f32Bytes([1]) });

  it('records each reading node once, skips omitted inputs, keeps unnamed nodes', async () => {
    const ckpt = await openBytes(
      model(
        graph({
          nodes: [
            node({ op: 'Mul', name: '/sq/Mul', inputs: ['w', 'w'] }),
            node({ op: 'Clip', inputs: ['x', '', 'w'] }),
          ],
          initializers: [w],
        }),
      ),
    );
    assert.deepEqual(ckpt.tensor('w').consumers, [
      { op: 'Mul', node: '/sq/Mul' },
      { op: 'Clip', node: '' },
    ]);
  });

  it('takes the module scope of a generic node from its dynamo metadata_props', async () => {
    const entry = (key: string, value: string) => len(9, str(1, key), str(2, value));
    const scoped = (name: string, ...entries: Bytes[]) =>
      cat(node({ op: 'MatMul', name, inputs: ['x', 'w'] }), ...entries);
    const ckpt = await openBytes(
      model(
        graph({
          nodes: [
            scoped(
              'node_linear',
              entry('pkg.torch.onnx.stack_trace', 'x'.repeat(70 * 1024)),
              entry(
                'pkg.torch.onnx.name_scopes',
                "['', 'model', 'model.layers.0', 'model.layers.0.mlp.up_proj', 'linear']",
              ),
            ),
            scoped(
              'node_linear_1',
              entry(
                'namespace',
                ': A/model: B/model.layers.1: C/model.layers.1.mlp.down_proj: Linear/linear_1: aten.linear.default',
              ),
            ),
            // Over 64 KiB: not read. A root-level op has no module scope.
            scoped(
              'node_linear_2',
              entry('namespace', `: A/${'m'.repeat(65 * 1024)}: B/linear_2: op`),
            ),
            scoped('node_add', entry('pkg.torch.onnx.name_scopes', "['', 'add']")),
          ],
          initializers: [w],
        }),
      ),
    );
    assert.deepEqual(ckpt.tensor('w').consumers, [
      { op: 'MatMul', node: 'node_linear', scope: 'model.layers.0.mlp.up_proj' },
      { op: 'MatMul', node: 'node_linear_1', scope: 'model.layers.1.mlp.down_proj' },
      { op: 'MatMul', node: 'node_linear_2' },
      { op: 'MatMul', node: 'node_add' },
    ]);
  });

  it('finds consumers in subgraph lists (Loop/Scan bodies), after the node itself', async () => {
    const body = (n: string) => graph({ nodes: [node({ op: 'Add', name: n, inputs: ['w'] })] });
    // Attributes written before inputs: the order in the file must not change the report.
    const loop = cat(
      len(5, str(1, 'bodies'), vint(20, 10), len(11, body('/a/Add')), len(11, body('/b/Add'))),
      str(1, 'w'),
      str(3, '/loop'),
      str(4, 'Loop'),
    );
    const ckpt = await openBytes(model(graph({ nodes: [loop], initializers: [w] })));
    assert.deepEqual(ckpt.tensor('w').consumers, [
      { op: 'Loop', node: '/loop' },
      { op: 'Add', node: '/a/Add' },
      { op: 'Add', node: '/b/Add' },
    ]);
    assert.equal(ckpt.metadata['onnx.graph.subgraph_nodes'], '2');
  });

  it(`walks subgraphs ${ONNX_LIMITS.graphDepth} deep and refuses one more`, async () => {
    const nested = (levels: number) => {
      let g = graph({ nodes: [node({ op: 'Relu', name: '/leaf', inputs: ['w'] })] });
      for (let i = 0; i < levels; i++) g = graph({ nodes: [node({ op: 'If', subgraph: g })] });
      return model(cat(g, len(5, w)));
    };
    const ckpt = await openBytes(nested(ONNX_LIMITS.graphDepth));
    assert.deepEqual(ckpt.tensor('w').consumers, [{ op: 'Relu', node: '/leaf' }]);
    await assert.rejects(openBytes(nested(ONNX_LIMITS.graphDepth + 1)), {
      code: 'LimitExceeded',
    });
  });

  it('refuses a model with two graphs', async () => {
    const g = graph({ initializers: [w] });
    await assert.rejects(openBytes(model(g, [len(7, g)])), {
      code: 'InvalidOnnx',
      message: /second graph/,
    });
  });

  it('keeps metadata_props keys such as __proto__ as plain entries', async () => {
    const props = [len(14, str(1, '__proto__'), str(2, 'x')), len(14, str(1, 'k'), str(2, 'v'))];
    const ckpt = await openBytes(model(graph({ initializers: [w] }), props));
    assert.equal(Object.getPrototypeOf(ckpt.metadata), null);
    assert.equal(ckpt.metadata['onnx.meta.__proto__'], 'x');
    assert.equal(ckpt.metadata['onnx.meta.k'], 'v');
  });
});

describe('onnx reader: sniff', () => {
  const head = withInitializers().subarray(0, 16);

  it('claims .onnx files, and extension-less files that start like a ModelProto', () => {
    assert.equal(onnxReader.sniff(new Uint8Array(0), 'model.onnx'), true);
    assert.equal(onnxReader.sniff(new Uint8Array(0), 'dir/MODEL.ONNX'), true);
    assert.equal(onnxReader.sniff(head, 'model'), true);
  });

  it('leaves external data, other formats and other names alone', () => {
    assert.equal(onnxReader.sniff(head, 'model.onnx_data'), false);
    assert.equal(onnxReader.sniff(head, 'weights.bin'), false);
    assert.equal(onnxReader.sniff(new TextEncoder().encode('GGUF\x03\0\0\0'), 'model'), false);
    assert.equal(onnxReader.sniff(Uint8Array.of(0x50, 0x4b, 3, 4), 'model'), false);
    const safetensors = Uint8Array.of(0x08, 0x05, 0, 0, 0, 0, 0, 0, 0x7b);
    assert.equal(onnxReader.sniff(safetensors, 'model'), false);
  });
});
