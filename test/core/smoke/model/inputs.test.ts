import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { openPath } from '../../../../src/core/formats/index.js';
import { buildLoraInputModel } from '../../../../src/core/smoke/model/loraInputs.js';
import { generateInputs, vocabSize } from '../../../../src/core/smoke/model/sampleInputs.js';

const BASE = 'samples/tiny-llama-onnx/model.onnx';

describe('generated inputs', () => {
  it('reads the vocabulary from the embedding table a Gather reads', async () => {
    const base = await openPath(BASE);
    assert.equal(vocabSize(base.tensors), 256);
    await base.close();
    assert.equal(vocabSize([]), 100);
  });

  it('ids in [0, vocab), masks of ones, positions 0..n-1, seeded floats; batch 1, other symbols 8', () => {
    const meta: ort.InferenceSession.ValueMetadata[] = [
      { name: 'input_ids', isTensor: true, type: 'int64', shape: ['batch', 'sequence'] },
      { name: 'attention_mask', isTensor: true, type: 'int64', shape: ['batch', 'sequence'] },
      { name: 'position_ids', isTensor: true, type: 'int32', shape: [1, 'sequence'] },
      { name: 'pixel_values', isTensor: true, type: 'float32', shape: ['batch_size', 3, 'h', 'w'] },
    ];
    const { feeds, problems } = generateInputs(ort, meta, 50, 7);
    assert.deepEqual(problems, []);
    assert.deepEqual(feeds['input_ids']?.dims, [1, 8]);
    const ids = [...(feeds['input_ids']?.data as BigInt64Array)].map(Number);
    assert.ok(ids.every((v) => Number.isInteger(v) && v >= 0 && v < 50));
    assert.ok(new Set(ids).size > 1);
    assert.deepEqual([...(feeds['attention_mask']?.data as BigInt64Array)], Array(8).fill(1n));
    assert.deepEqual([...(feeds['position_ids']?.data as Int32Array)], [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(feeds['pixel_values']?.dims, [1, 3, 8, 8]);
    const again = generateInputs(ort, meta, 50, 7).feeds;
    assert.deepEqual(again['pixel_values']?.data, feeds['pixel_values']?.data);
    const other = generateInputs(ort, meta, 50, 8).feeds;
    assert.notDeepEqual(other['pixel_values']?.data, feeds['pixel_values']?.data);
  });

  it('names the inputs it cannot generate', () => {
    const { problems } = generateInputs(
      ort,
      [{ name: 'prompt', isTensor: true, type: 'string', shape: [1] }],
      10,
      0,
    );
    assert.deepEqual(problems, ['input prompt is string; it cannot be generated']);
  });
});

describe('LoRA-input model', () => {
  it('adds A, B and scale inputs and a branch after each MatMul, in topological order', async () => {
    const bytes = new Uint8Array(await readFile(BASE));
    const built = buildLoraInputModel(
      bytes,
      [
        {
          initializer: 'onnx::MatMul_674',
          rank: 8,
          inFeatures: 64,
          outFeatures: 64,
          elemType: 'float32',
        },
      ],
      () => ['MatMul'],
    );
    assert.ok(typeof built !== 'string', String(built));
    assert.deepEqual(built.inputs, [{ a: 'lora.0.A', b: 'lora.0.B', scale: 'lora.0.scale' }]);
    const graph = onnx.ModelProto.decode(built.bytes).graph as onnx.GraphProto;
    assert.deepEqual(
      graph.input
        .slice(-3)
        .map((i) => [i.name, i.type?.tensorType?.shape?.dim?.map((d) => Number(d.dimValue))]),
      [
        ['lora.0.A', [8, 64]],
        ['lora.0.B', [64, 8]],
        ['lora.0.scale', [1]],
      ],
    );
    const names = graph.node.map((n) => n.name);
    const q = names.indexOf('/model/layers.0/self_attn/q_proj/MatMul');
    assert.deepEqual(names.slice(q + 1, q + 7), [
      'lora.0.A.T',
      'lora.0.B.T',
      'lora.0.0.down',
      'lora.0.0.up',
      'lora.0.0.scale',
      'lora.0.0.add',
    ]);
    const y = graph.node[q + 6]?.output?.[0] as string;
    assert.equal(graph.node[q]?.output?.[0], 'lora.0.0.base');
    // Every value is produced before it is read.
    const produced = new Set([
      ...graph.input.map((i) => i.name),
      ...graph.initializer.map((t) => t.name),
    ]);
    for (const n of graph.node) {
      for (const i of n.input ?? [])
        if (i) assert.ok(produced.has(i), `${n.name} reads ${i} before it exists`);
      for (const o of n.output ?? []) produced.add(o);
    }
    assert.ok(produced.has(y));
  });

  it('says why when a weight is not only a MatMul weight', async () => {
    const bytes = new Uint8Array(await readFile(BASE));
    const branch = {
      initializer: 'model.embed_tokens.weight',
      rank: 2,
      inFeatures: 256,
      outFeatures: 64,
      elemType: 'float32' as const,
    };
    assert.equal(
      buildLoraInputModel(bytes, [branch], () => ['Gather']),
      'model.embed_tokens.weight is read by Gather, not only by MatMul',
    );
    assert.equal(
      buildLoraInputModel(bytes, [branch], () => ['MatMul']),
      'model.embed_tokens.weight is not the weight input of a top-level MatMul',
    );
  });
});
