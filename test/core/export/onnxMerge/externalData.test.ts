import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { relocateExternalData } from '../../../../src/core/export/onnxMerge/externalData.js';

function externalTensor(name: string, entries: Record<string, string>): onnx.ITensorProto {
  return {
    name,
    dataType: onnx.TensorProto.DataType.FLOAT,
    dims: [4],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  };
}

function model(): Uint8Array {
  const constant: onnx.INodeProto = {
    opType: 'Constant',
    output: ['c'],
    name: 'const',
    attribute: [
      {
        name: 'value',
        type: onnx.AttributeProto.AttributeType.TENSOR,
        t: externalTensor('c', { location: 'b.bin', offset: '16', length: '16' }),
      },
    ],
  };
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'test',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [constant],
      initializer: [
        externalTensor('w1', { location: 'a.bin', length: '16' }),
        externalTensor('w2', { location: './a.bin', offset: '64', length: '16', checksum: 'x' }),
        externalTensor('w3', { location: 'b.bin', offset: '0', length: '16' }),
        {
          name: 'inline',
          dataType: onnx.TensorProto.DataType.FLOAT,
          dims: [1],
          rawData: new Uint8Array(4),
        },
      ],
    },
  }).finish();
}

const entries = (t: onnx.ITensorProto | undefined) =>
  Object.fromEntries((t?.externalData ?? []).map((e) => [e.key, e.value]));

describe('relocateExternalData', () => {
  it('points every external tensor, Constant values included, at the new file and offset', () => {
    const starts: Record<string, number> = { 'a.bin': 0, 'b.bin': 4096 };
    const seen: string[] = [];
    const r = relocateExternalData(model(), (location, offset) => {
      seen.push(`${location}@${offset}`);
      const start = starts[location.replace(/^\.\//, '')];
      return start === undefined ? null : { location: 'out.onnx.data', offset: start + offset };
    });
    assert.equal(r.tensors, 4);
    assert.deepEqual(seen.sort(), ['./a.bin@64', 'a.bin@0', 'b.bin@0', 'b.bin@16']);
    const decoded = onnx.ModelProto.decode(r.bytes);
    const byName = new Map(decoded.graph?.initializer?.map((t) => [t.name, t]));
    // An absent offset meant 0: with a new non-zero start it is added; other keys stay.
    assert.deepEqual(entries(byName.get('w1')), { location: 'out.onnx.data', length: '16' });
    assert.deepEqual(entries(byName.get('w2')), {
      location: 'out.onnx.data',
      offset: '64',
      length: '16',
      checksum: 'x',
    });
    assert.deepEqual(entries(byName.get('w3')), {
      location: 'out.onnx.data',
      offset: '4096',
      length: '16',
    });
    assert.deepEqual(entries(decoded.graph?.node?.[0]?.attribute?.[0]?.t ?? undefined), {
      location: 'out.onnx.data',
      offset: '4112',
      length: '16',
    });
    assert.equal(byName.get('inline')?.rawData?.length, 4);
    assert.equal(decoded.producerName, 'test');
  });

  it('adds an offset entry when a tensor without one moves off 0', () => {
    const r = relocateExternalData(model(), (location, offset) =>
      location === 'a.bin' ? { location: 'x.data', offset: offset + 8192 } : null,
    );
    assert.equal(r.tensors, 1);
    const w1 = onnx.ModelProto.decode(r.bytes).graph?.initializer?.find((t) => t.name === 'w1');
    assert.deepEqual(entries(w1), { location: 'x.data', length: '16', offset: '8192' });
  });

  it('returns the same bytes when nothing moves', () => {
    const bytes = model();
    const r = relocateExternalData(bytes, () => null);
    assert.equal(r.tensors, 0);
    assert.equal(r.bytes, bytes);
  });
});
