import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import {
  chooseEp,
  cudaProviderFiles,
  describePlacement,
  linkCudaProviders,
  parseProfile,
  probeCuda,
} from '../../../src/core/smoke/ep.js';
import { SessionCache } from '../../../src/core/smoke/sessions.js';
import { skipWithoutWebgpu } from '../../helpers/webgpu.js';
import type { EpName } from '../../../src/core/smoke/types.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lora-lens-ep-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('chooseEp', () => {
  it('skips CUDA without trying it when the probe says its libraries are absent', async () => {
    const tried: EpName[] = [];
    const events: string[] = [];
    const r = await chooseEp(
      ['cuda', 'webgpu', 'cpu'],
      async (ep) => {
        tried.push(ep);
        if (ep === 'webgpu') throw new Error('Failed to get a WebGPU adapter\nsecond line');
      },
      (ep) => (ep === 'cuda' ? 'libonnxruntime_providers_shared.so not found in /x' : null),
      (a) => events.push(a.ep),
    );
    assert.equal(r.ep, 'cpu');
    assert.deepEqual(tried, ['webgpu', 'cpu']);
    assert.deepEqual(events, ['cuda', 'webgpu', 'cpu']);
    assert.deepEqual(r.tried, [
      { ep: 'cuda', error: 'skipped: libonnxruntime_providers_shared.so not found in /x' },
      { ep: 'webgpu', error: 'Failed to get a WebGPU adapter | second line' },
      { ep: 'cpu', error: null },
    ]);
  });

  it('stops at the first rung that works and reports null when all fail', async () => {
    const first = await chooseEp(['webgpu', 'cpu'], async () => undefined);
    assert.deepEqual(first, { ep: 'webgpu', tried: [{ ep: 'webgpu', error: null }] });
    const none = await chooseEp(['cuda', 'cpu'], async (ep) => {
      throw new Error(`${ep} broke`);
    });
    assert.equal(none.ep, null);
    assert.deepEqual(
      none.tried.map((t) => t.error),
      ['cuda broke', 'cpu broke'],
    );
  });

  it('records the real ORT failure of an EP that cannot load (CUDA without its libraries)', async (t) => {
    const dir = tempDir();
    const libDir = join(
      require.resolve('onnxruntime-node'),
      '..',
      '..',
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
    );
    if (probeCuda(libDir) === null) {
      t.skip('the CUDA provider libraries are installed here');
      return;
    }
    const r = await chooseEp(['cuda', 'cpu'], async (ep) => {
      const cache = new SessionCache(ort, ep, { tempDir: dir });
      try {
        await cache.run(
          { variant: 'linear' },
          {
            x: new ort.Tensor('float32', Float32Array.of(1), [1, 1]),
            w: new ort.Tensor('float32', Float32Array.of(2), [1, 1]),
            a: new ort.Tensor('float32', Float32Array.of(1), [1, 1]),
            b: new ort.Tensor('float32', Float32Array.of(1), [1, 1]),
            s: new ort.Tensor('float32', Float32Array.of(1), [1]),
          },
        );
      } finally {
        await cache.release();
      }
    });
    assert.equal(r.ep, 'cpu');
    assert.match(r.tried[0]?.error ?? '', /Cuda: Failed to load shared library/);
  });
});

describe('probeCuda', () => {
  const [shared, cuda] = cudaProviderFiles('linux') as [string, string];

  it('names the missing file and the folder it looked in', () => {
    const dir = tempDir();
    assert.equal(
      probeCuda(dir, undefined, 'linux'),
      `${shared} not found in ${dir} (the CUDA provider libraries are not installed)`,
    );
    writeFileSync(join(dir, shared), '');
    assert.match(probeCuda(dir, undefined, 'linux') ?? '', new RegExp(`^${cuda} not found in `));
    writeFileSync(join(dir, cuda), '');
    assert.equal(probeCuda(dir, undefined, 'linux'), null);
  });

  it('says when the libraries sit in the user folder but not beside onnxruntime', () => {
    const ortDir = tempDir();
    const userDir = tempDir();
    assert.equal(probeCuda(ortDir, userDir, 'linux'), `${shared} not found in ${userDir}`);
    writeFileSync(join(userDir, shared), '');
    writeFileSync(join(userDir, cuda), '');
    const why = probeCuda(ortDir, userDir, 'linux') ?? '';
    assert.match(why, /loads them only from beside its own library/);
    assert.ok(why.includes(ortDir) && why.includes(userDir));
  });

  it('links the libraries from the user folder beside onnxruntime, once, and then CUDA can be tried', () => {
    const ortDir = tempDir();
    const userDir = tempDir();
    assert.equal(linkCudaProviders(ortDir, userDir, 'linux'), null, 'nothing to link yet');
    writeFileSync(join(userDir, shared), '');
    writeFileSync(join(userDir, cuda), '');
    assert.match(linkCudaProviders(ortDir, userDir, 'linux') ?? '', /^linked .*providers_shared/);
    assert.ok(lstatSync(join(ortDir, cuda)).isSymbolicLink());
    assert.equal(probeCuda(ortDir, userDir, 'linux'), null);
    assert.equal(linkCudaProviders(ortDir, userDir, 'linux'), null, 'already there');
  });

  it('says how to link them by hand when it cannot', () => {
    const userDir = tempDir();
    writeFileSync(join(userDir, shared), '');
    writeFileSync(join(userDir, cuda), '');
    const why = linkCudaProviders(join(userDir, 'no-such-dir'), userDir, 'linux') ?? '';
    assert.match(why, /^could not link .* link them yourself: ln -s /);
  });

  it('knows the Windows names and that macOS has no CUDA', () => {
    assert.deepEqual(cudaProviderFiles('win32'), [
      'onnxruntime_providers_shared.dll',
      'onnxruntime_providers_cuda.dll',
    ]);
    assert.equal(probeCuda('/nowhere', undefined, 'darwin'), 'CUDA is not available on macOS');
  });
});

describe('placement from a profile', () => {
  const profile = JSON.stringify([
    { cat: 'Session', name: 'model_run' },
    {
      cat: 'Node',
      name: 'Gemm_base_kernel_time',
      args: { op_name: 'Gemm', provider: 'WebGpuExecutionProvider' },
    },
    {
      cat: 'Node',
      name: 'Mul_delta_kernel_time',
      args: { op_name: 'Mul', provider: 'WebGpuExecutionProvider' },
    },
    {
      cat: 'Node',
      name: 'ReduceL2_norm_kernel_time',
      args: { op_name: 'ReduceL2', provider: 'CPUExecutionProvider' },
    },
    { cat: 'Node', name: 'Gemm_base_fence_before', args: { op_name: 'Gemm' } },
  ]);

  it('names the ops that fell back to the CPU', () => {
    const p = parseProfile(profile);
    assert.equal(p.nodes, 3);
    const d = describePlacement('dora-linear', 'webgpu', p);
    assert.equal(
      d.line,
      'dora-linear: Gemm, Mul ran on WebGpuExecutionProvider; ReduceL2 fell back to CPUExecutionProvider',
    );
    assert.deepEqual(d.fellBack, ['ReduceL2']);
  });

  it('profiles the first run of each variant on WebGPU (skips without a Vulkan driver)', async (t) => {
    const dir = tempDir();
    const cache = new SessionCache(ort, 'webgpu', { tempDir: dir });
    const feeds = {
      x: new ort.Tensor('float32', Float32Array.of(1, 2), [1, 2]),
      w: new ort.Tensor('float32', Float32Array.of(1, 0, 0, 1), [2, 2]),
      a: new ort.Tensor('float32', Float32Array.of(1, 1), [1, 2]),
      b: new ort.Tensor('float32', Float32Array.of(1, -1), [2, 1]),
      s: new ort.Tensor('float32', Float32Array.of(0.5), [1]),
    };
    try {
      let y: Float32Array;
      try {
        y = (await cache.run({ variant: 'linear' }, feeds)).y as Float32Array;
      } catch (e) {
        skipWithoutWebgpu(t, e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e));
        return;
      }
      // y = W·x + 0.5·B·(A·x) = [1, 2] + 0.5·3·[1, −1]
      assert.deepEqual([...y], [2.5, 0.5]);
      await cache.run({ variant: 'linear' }, feeds);
      const placement = cache.placement();
      assert.deepEqual(placement?.lines, ['linear: Add, Gemm, Mul ran on WebGpuExecutionProvider']);
      assert.deepEqual(placement?.fellBack, []);
      assert.deepEqual(readdirSync(dir), [], 'the profile file is deleted once read');
    } finally {
      await cache.release();
    }
  });
});
