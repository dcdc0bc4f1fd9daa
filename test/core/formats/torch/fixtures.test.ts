/**
 * Every fixture written by real torch (scripts/fixtures/torch/generate.py) against the facts
 * torch.load itself reported, stored beside it as <file>.expected.json.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  CountingByteSource,
  FileByteSource,
  decodeValues,
  isDType,
  type Checkpoint,
  type TensorInfo,
} from '../../../../src/core/formats/index.js';
import { openTorch, torchReader } from '../../../../src/core/formats/torch/index.js';

const DIR = 'test/fixtures/torch';

interface ExpectedTensor {
  name: string;
  dtype: string;
  shape: number[];
  stride: number[];
  storageOffset: number;
  storageKey: string;
  storageDtype: string;
  storageNumel: number;
  location: string;
  contiguous: boolean;
  offset: number;
  byteLength: number;
  parameterCount: number;
  role: string;
  sha256: string;
  first: number[];
}

interface Expected {
  file: string;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: ExpectedTensor[];
  values: Record<string, unknown>;
  dataBytes: number;
  parameterCount: number;
}

const FIXTURES = [
  'tiny-llama/pytorch_model.bin',
  'tiny-llama-lora/adapter_model.bin',
  'lightning.ckpt',
  'training-state.pt',
  'edge-cases.pt',
  'weights.pt',
  'zip64.pt',
  'deflated.pt',
  'big-endian.pt',
  'protocol4.pt',
];

function expected(file: string): Expected {
  return JSON.parse(readFileSync(join(DIR, `${file}.expected.json`), 'utf8')) as Expected;
}

async function openFixture(
  file: string,
): Promise<{ ckpt: Checkpoint; counter: CountingByteSource }> {
  const counter = new CountingByteSource(await FileByteSource.open(join(DIR, file)));
  return { ckpt: await openTorch(counter), counter };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** NaN-safe comparison of decoded values with the JSON torch wrote. */
function sameNumbers(actual: Float64Array, want: number[], what: string) {
  assert.equal(actual.length, want.length, `${what}: count`);
  want.forEach((w, i) =>
    assert.ok(Object.is(actual[i], w) || actual[i] === w, `${what}[${i}]: ${actual[i]} ≠ ${w}`),
  );
}

for (const file of FIXTURES) {
  describe(`torch fixture ${file}`, () => {
    const exp = expected(file);

    it('lists the tensors torch.load reports, with storages, offsets and roles', async () => {
      const { ckpt } = await openFixture(file);
      try {
        assert.equal(ckpt.format, 'torch');
        assert.equal(ckpt.fileSize, exp.fileSize);
        assert.deepEqual(
          ckpt.tensors.map((t) => t.name).sort(),
          exp.tensors.map((t) => t.name).sort(),
        );
        for (const want of exp.tensors) {
          const t = ckpt.tensor(want.name);
          assert.deepEqual(
            {
              dtype: t.dtype,
              shape: t.shape,
              offset: t.offset,
              byteLength: t.byteLength,
              parameterCount: t.parameterCount,
              role: t.role,
              storage: t.storage,
            },
            {
              dtype: want.dtype,
              shape: want.shape,
              offset: want.offset,
              byteLength: want.byteLength,
              parameterCount: want.parameterCount,
              role: want.role,
              storage: {
                key: want.storageKey,
                storageDtype: want.storageDtype,
                storageNumel: want.storageNumel,
                location: want.location,
                storageOffset: want.storageOffset,
                stride: want.stride,
              },
            },
            want.name,
          );
        }
        assert.deepEqual({ ...ckpt.metadata }, exp.metadata);
        assert.deepEqual(JSON.parse(JSON.stringify(ckpt.values)), exp.values);
        assert.equal(ckpt.dataBytes, exp.dataBytes);
        assert.equal(ckpt.parameterCount, exp.parameterCount);
      } finally {
        await ckpt.close();
      }
    });

    it('lists tensors in file order', async () => {
      const { ckpt } = await openFixture(file);
      try {
        const direct = ckpt.tensors.filter((t) => t.offset >= 0).map((t) => t.offset);
        assert.deepEqual(
          direct,
          [...direct].sort((a, b) => a - b),
        );
      } finally {
        await ckpt.close();
      }
    });

    it('reads every tensor to the exact bytes and values torch holds', async () => {
      const { ckpt } = await openFixture(file);
      try {
        for (const want of exp.tensors) {
          const t = ckpt.tensor(want.name);
          const bytes = await ckpt.readTensorBytes(t);
          assert.equal(bytes.byteLength, want.byteLength, want.name);
          assert.equal(sha256(bytes), want.sha256, `${want.name}: bytes differ from torch's`);
          const n = Math.min(8, t.parameterCount);
          if (n > 0 && isDType(t.dtype)) {
            const head = await ckpt.readTensorBytes(t, { start: 0, count: n });
            sameNumbers(decodeValues(head, t.dtype), want.first, want.name);
          }
        }
      } finally {
        await ckpt.close();
      }
    });

    it('opens without reading storage data', async () => {
      const { ckpt, counter } = await openFixture(file);
      await ckpt.close();
      // Reads: 512-byte head, a 4 KiB tail, data.pkl, small records, one local header per storage.
      const pkl = exp.fileSize - exp.dataBytes;
      assert.ok(
        counter.bytesRead <= 512 + 4096 + 2 * pkl + 64 * exp.tensors.length,
        `${counter.bytesRead} bytes read to list a ${exp.fileSize}-byte file`,
      );
      assert.equal(ckpt.headerByteLength, counter.bytesRead);
    });
  });
}

describe('torch fixtures: details worth naming', () => {
  it('the plain state dict: bf16 Llama weights, folder named after the file', async () => {
    const { ckpt, counter } = await openFixture('tiny-llama/pytorch_model.bin');
    try {
      assert.equal(ckpt.metadata['torch.archive_folder'], 'pytorch_model');
      assert.equal(ckpt.tensors.length, 21);
      assert.ok(ckpt.tensors.every((t) => t.dtype === 'BF16' && t.role === 'weight'));
      assert.deepEqual(ckpt.tensor('model.embed_tokens.weight').shape, [256, 64]);
      assert.ok(counter.bytesRead < ckpt.fileSize / 10, `${counter.bytesRead} of ${ckpt.fileSize}`);
    } finally {
      await ckpt.close();
    }
  });

  it('the PEFT adapter: lora_A/lora_B pairs with a non-zero lora_B', async () => {
    const { ckpt } = await openFixture('tiny-llama-lora/adapter_model.bin');
    try {
      const b = ckpt.tensor('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
      assert.deepEqual(b.shape, [64, 8]);
      const values = decodeValues(await ckpt.readTensorBytes(b), 'F32');
      assert.ok(values.some((v) => v !== 0));
      assert.equal(ckpt.tensors.filter((t) => t.name.includes('lora_A')).length, 8);
    } finally {
      await ckpt.close();
    }
  });

  it('the Lightning checkpoint: roles and training values', async () => {
    const { ckpt } = await openFixture('lightning.ckpt');
    try {
      const roles = new Map<string, number>();
      for (const t of ckpt.tensors) roles.set(t.role ?? '', (roles.get(t.role ?? '') ?? 0) + 1);
      const lora = ckpt.tensors.filter(
        (t) => t.name.startsWith('state_dict.') && t.name.includes('lora_'),
      ).length;
      assert.equal(lora, 8);
      // exp_avg, exp_avg_sq and step for each trainable tensor.
      assert.equal(roles.get('optimizer'), 3 * lora);
      assert.equal(roles.get('other'), 1);
      assert.equal(
        ckpt.tensor("callbacks.EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}.best_score")
          .role,
        'other',
      );
      const step = ckpt.tensor('optimizer_states.0.state.0.step');
      assert.equal(step.role, 'optimizer');
      assert.deepEqual(step.shape, []);
      assert.deepEqual([...decodeValues(await ckpt.readTensorBytes(step), 'F32')], [2]);
      const v = ckpt.values ?? {};
      assert.equal(v['epoch'], 0);
      assert.equal(v['global_step'], 2);
      assert.equal(v['optimizer_states.0.param_groups.0.lr'], 0.001);
      assert.deepEqual(v['optimizer_states.0.param_groups.0.betas'], [0.9, 0.999]);
      assert.deepEqual(v['hyper_parameters.target_modules'], ['q_proj', 'v_proj']);
      assert.equal(v['lr_schedulers.0.step_size'], 10);
      // Only weights count as parameters.
      const weights = ckpt.tensors.filter((t) => t.role === 'weight');
      assert.equal(
        ckpt.parameterCount,
        weights.reduce((n, t) => n + t.parameterCount, 0),
      );
    } finally {
      await ckpt.close();
    }
  });

  it('the plain training state: {"state_dict", "optimizer", "epoch", …}', async () => {
    const { ckpt } = await openFixture('training-state.pt');
    try {
      assert.equal(ckpt.tensor('optimizer.state.0.exp_avg').role, 'optimizer');
      assert.equal(ckpt.tensor('state_dict.0.weight').role, 'weight');
      const tracked = ckpt.tensor('state_dict.1.num_batches_tracked');
      assert.equal(tracked.dtype, 'I64');
      assert.deepEqual(tracked.shape, []);
      assert.deepEqual([...decodeValues(await ckpt.readTensorBytes(tracked), 'I64')], [2]);
      assert.equal(ckpt.values?.['epoch'], 3);
      assert.equal(ckpt.values?.['global_step'], 100);
      assert.equal(ckpt.values?.['optimizer.param_groups.0.weight_decay'], 0.01);
      assert.equal(ckpt.values?.['run_name'], 'lens-test');
    } finally {
      await ckpt.close();
    }
  });

  it('edge cases: shared storage, views, fp8 through _rebuild_tensor_v3, capped values', async () => {
    const { ckpt } = await openFixture('edge-cases.pt');
    try {
      assert.equal(ckpt.metadata['torch.archive_folder'], 'archive');
      const first = ckpt.tensor('shared.first');
      const second = ckpt.tensor('shared.second');
      assert.equal(first.storage?.key, second.storage?.key);
      assert.deepEqual(
        [...decodeValues(await ckpt.readTensorBytes(first), 'F32')],
        [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5],
      );
      assert.equal(second.offset - first.offset, 10 * 4);
      const transposed = ckpt.tensor('transposed');
      assert.equal(transposed.offset, -1);
      assert.deepEqual(transposed.storage?.stride, [1, 4]);
      const strided = ckpt.tensor('strided');
      assert.deepEqual(
        [...decodeValues(await ckpt.readTensorBytes(strided), 'F32')],
        [0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19],
      );
      assert.deepEqual(
        [...decodeValues(await ckpt.readTensorBytes(strided, { start: 4, count: 3 }), 'F32')],
        [7, 9, 10],
      );
      const expanded = ckpt.tensor('expanded');
      assert.deepEqual(expanded.storage?.stride, [0, 1]);
      assert.deepEqual(
        [...decodeValues(await ckpt.readTensorBytes(expanded), 'F32')],
        [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3],
      );
      const fp8 = ckpt.tensor('fp8_e4m3');
      assert.equal(fp8.dtype, 'F8_E4M3');
      assert.equal(fp8.storage?.storageDtype, 'U8');
      assert.equal(fp8.storage?.storageNumel, 16);
      assert.equal(ckpt.tensor('scalar').parameterCount, 1);
      assert.deepEqual(
        [...decodeValues(await ckpt.readTensorBytes(ckpt.tensor('scalar')), 'F32')],
        [3.5],
      );
      assert.equal(ckpt.tensor('empty').byteLength, 0);
      assert.equal((await ckpt.readTensorBytes(ckpt.tensor('empty'))).byteLength, 0);
      assert.equal(ckpt.tensor('tied_a').offset, ckpt.tensor('tied_b').offset);
      assert.ok(ckpt.tensor('module.0.weight'));
      const v = ckpt.values ?? {};
      assert.equal(v['values.big_int'], '1180591620717411303424');
      assert.equal(v['values.bytes'], '<3 bytes>');
      assert.equal(v['values.device'], 'cuda:0');
      assert.equal(v['values.dtype'], 'torch.float16');
      assert.deepEqual(v['values.complex'], { real: 1.5, imag: -2 });
      assert.equal((v['values.long_string'] as string).length, 1001);
      assert.equal((v['values.long_list'] as unknown[]).length, 257);
      assert.equal(v['values.nan'], 'nan');
    } finally {
      await ckpt.close();
    }
  });

  it('ZIP64, DEFLATE and big-endian variants read the same tensors as the original', async () => {
    const { ckpt: original } = await openFixture('weights.pt');
    try {
      for (const file of ['zip64.pt', 'deflated.pt']) {
        const { ckpt } = await openFixture(file);
        try {
          for (const t of original.tensors) {
            assert.deepEqual(
              await ckpt.readTensorBytes(ckpt.tensor(t.name)),
              await original.readTensorBytes(t),
              `${file} ${t.name}`,
            );
          }
        } finally {
          await ckpt.close();
        }
      }
      const { ckpt: deflated } = await openFixture('deflated.pt');
      assert.equal(deflated.tensor('linear.weight').offset, -1);
      assert.ok(deflated.tensor('linear.bias').offset > 0);
      assert.deepEqual(
        [
          ...decodeValues(
            await deflated.readTensorBytes(deflated.tensor('linear.weight'), {
              start: 2,
              count: 2,
            }),
            'F32',
          ),
        ],
        [
          ...decodeValues(
            await original.readTensorBytes(original.tensor('linear.weight'), {
              start: 2,
              count: 2,
            }),
            'F32',
          ),
        ],
      );
      await deflated.close();
    } finally {
      await original.close();
    }
    const { ckpt: big } = await openFixture('big-endian.pt');
    try {
      assert.equal(big.metadata['torch.byteorder'], 'big');
      assert.ok(big.tensors.every((t) => t.offset === -1));
      assert.deepEqual(
        [...decodeValues(await big.readTensorBytes(big.tensor('int64')), 'I64')],
        [-2, -1, 0, 1, 2],
      );
      assert.ok(big.warnings?.some((w) => w.includes('big-endian')));
    } finally {
      await big.close();
    }
  });

  it('protocol 4: FRAME, STACK_GLOBAL, MEMOIZE and sets', async () => {
    const { ckpt } = await openFixture('protocol4.pt');
    try {
      assert.equal(ckpt.metadata['torch.pickle_protocol'], '4');
      assert.deepEqual(ckpt.values?.['meta.tags'], [5, 6]);
      assert.equal(ckpt.tensor('f8').dtype, 'F8_E4M3');
    } finally {
      await ckpt.close();
    }
  });

  it('unsupported layouts are refused by name, never unpickled', async () => {
    for (const file of ['legacy.pt', 'torchscript.pt', 'legacy-tar.pt']) {
      const exp = JSON.parse(readFileSync(join(DIR, `${file}.expected.json`), 'utf8')) as {
        error: { code: string; message: string };
      };
      const source = await FileByteSource.open(join(DIR, file));
      const head = await source.read(0, 16);
      assert.ok(torchReader.sniff(head, file), `${file} should be claimed so the error is named`);
      await assert.rejects(
        () => torchReader.open(source),
        (e: unknown) =>
          e instanceof CheckpointError &&
          e.code === exp.error.code &&
          e.message === exp.error.message,
        file,
      );
      await source.close();
    }
  });

  it('readTensorBytes accepts a copy of a TensorInfo and refuses unknown names', async () => {
    const { ckpt } = await openFixture('weights.pt');
    try {
      const t: TensorInfo = { ...ckpt.tensor('linear.bias') };
      assert.equal((await ckpt.readTensorBytes(t)).byteLength, 16);
      assert.throws(
        () => ckpt.tensor('nope'),
        (e: unknown) => e instanceof CheckpointError && e.code === 'TensorNotFound',
      );
    } finally {
      await ckpt.close();
    }
  });
});
