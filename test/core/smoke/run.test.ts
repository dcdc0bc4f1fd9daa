import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { writeSafetensors } from '../../../src/core/export/safetensorsWriter.js';
import type { Checkpoint, ElementRange, TensorInfo } from '../../../src/core/formats/checkpoint.js';
import type { FloatTarget } from '../../../src/core/formats/encode.js';
import { openPath } from '../../../src/core/formats/index.js';
import { runSmoke } from '../../../src/core/smoke/run.js';
import {
  SmokeError,
  type SmokeEvent,
  type SmokeModuleResult,
  type SmokeReport,
  type SmokeRequest,
} from '../../../src/core/smoke/types.js';

const ADAPTER = 'samples/tiny-llama-lora';
const BASE = 'samples/tiny-llama';
const ONNX_BASE = 'samples/tiny-llama-onnx/model.onnx';
const P = 'base_model.model.model.layers.0.self_attn.';
const Q = `${P}q_proj`;
const V = `${P}v_proj`;

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'lora-lens-smoke-test-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const smoke = (req: Partial<SmokeRequest>, options = {}): Promise<SmokeReport> =>
  runSmoke({ adapterPath: ADAPTER, basePath: BASE, eps: ['cpu'], ...req }, ort, {
    tempDir: work,
    ...options,
  });

const byName = (r: SmokeReport, name: string): SmokeModuleResult => {
  const m = r.modules.find((x) => x.module === name);
  assert.ok(m, `no result for ${name}`);
  return m;
};
const check = (m: SmokeModuleResult, name: string) => m.checks.find((c) => c.name === name);

/**
 * Copies a checkpoint folder's safetensors file with some tensors replaced (data and shape) or
 * converted, through the repo's own writer.
 */
async function copyCheckpoint(
  from: string,
  file: string,
  to: string,
  opts: {
    replace?: Record<string, { shape: number[]; data: Float32Array }>;
    dtype?: FloatTarget;
    rename?: (name: string) => string;
    extra?: { name: string; shape: number[]; data: Float32Array }[];
    drop?: RegExp;
  } = {},
): Promise<void> {
  const src = await openPath(join(from, file));
  try {
    const replaced = new Map<string, Float32Array>();
    const infos: TensorInfo[] = src.tensors
      .filter((t) => !opts.drop?.test(t.name))
      .map((t) => {
        const r = opts.replace?.[t.name];
        if (!r) return t;
        replaced.set(t.name, r.data);
        return { ...t, shape: r.shape };
      });
    for (const e of opts.extra ?? []) {
      replaced.set(e.name, e.data);
      infos.push({
        name: e.name,
        dtype: 'F32',
        shape: e.shape,
        offset: -1,
        byteLength: e.data.byteLength,
        parameterCount: e.data.length,
      });
    }
    const cp: Checkpoint = {
      ...src,
      tensor: (n: string) => src.tensor(n),
      close: () => src.close(),
      readTensorBytes: async (t: TensorInfo, range?: ElementRange) => {
        const data = replaced.get(t.name);
        return data ? new Uint8Array(data.buffer.slice(0)) : src.readTensorBytes(t, range);
      },
    };
    await writeSafetensors(
      join(to, file),
      infos.map((t) => ({
        name: opts.rename?.(t.name) ?? t.name,
        from: t,
        checkpoint: cp,
        ...(opts.dtype ? { dtype: opts.dtype } : {}),
      })),
      { format: 'pt' },
    );
  } finally {
    await src.close();
  }
}

async function readF32(path: string, name: string): Promise<Float32Array> {
  const cp = await openPath(path);
  try {
    const b = await cp.readTensorBytes(cp.tensor(name));
    return new Float32Array(b.slice().buffer);
  } finally {
    await cp.close();
  }
}

/** A fresh folder under the test's temp dir, with a copy of `configFile` from `configFrom`. */
function folder(name: string, configFrom = ADAPTER, configFile = 'adapter_config.json'): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(configFrom, configFile), join(dir, configFile));
  return dir;
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

describe('runSmoke on the tiny-llama samples (CPU EP)', () => {
  it('passes every module of the PEFT adapter and streams its events', async () => {
    const events: SmokeEvent[] = [];
    const r = await smoke({}, { onEvent: (e: SmokeEvent) => events.push(e) });
    assert.equal(r.ok, true, r.verdict);
    assert.equal(r.ep, 'cpu');
    assert.deepEqual(r.epTried, [{ ep: 'cpu', error: null }]);
    assert.equal(r.verdict, '8/8 modules pass on cpu');
    assert.equal(r.modules.length, 8);
    for (const m of r.modules) {
      assert.equal(m.status, 'pass', `${m.module}: ${JSON.stringify(m.checks)}`);
      assert.equal(m.variant, 'linear');
      assert.ok(m.maxAbsErr !== null && m.maxAbsErr < 1e-5, `${m.module} err ${m.maxAbsErr}`);
      assert.ok(
        m.deltaRatio !== null && m.deltaRatio > 0.01 && m.deltaRatio < 1,
        `${m.deltaRatio}`,
      );
      assert.deepEqual(
        m.checks.map((c) => c.name),
        ['role', 'shape', 'load', 'finite', 'reference', 'delta'],
      );
    }
    assert.match(check(byName(r, Q), 'role')?.message ?? '', /^q projection onto q$/);
    assert.equal(r.model, null);
    assert.match(r.placement ?? '', /not profiled/);
    assert.deepEqual(
      events.map((e) => (e.type === 'phase' ? e.phase : e.type)),
      ['open', 'ep', 'ep', 'modules', ...Array<string>(8).fill('module')],
    );
    const last = events.at(-1);
    assert.ok(last?.type === 'module' && last.index === 7 && last.total === 8);
    assert.ok(r.timings.totalMs >= r.timings.modulesMs && r.timings.sessionMs > 0);
  });

  it('runs the same adapter against the ONNX export, whose weights are stored [in, out]', async () => {
    const r = await smoke({ basePath: ONNX_BASE, skipModel: true });
    assert.equal(r.ok, true, r.verdict);
    assert.equal(r.model, null);
    for (const m of r.modules) {
      assert.equal(m.status, 'pass', `${m.module}: ${JSON.stringify(m.checks)}`);
      assert.equal(m.variant, 'linear-wt');
    }
  });

  it('tests only the modules asked for, by adapter name or target', async () => {
    const r = await smoke({ modules: [Q, 'model.layers.1.self_attn.o_proj', 'nope'] });
    assert.deepEqual(
      r.modules.map((m) => m.module),
      [Q, 'base_model.model.model.layers.1.self_attn.o_proj'],
    );
    assert.deepEqual(r.warnings, ['not modules of the adapter: nope']);
  });

  it('decodes F16 base weights and a BF16 adapter, with their tolerances', async () => {
    const base = folder('f16-base', BASE, 'config.json');
    await copyCheckpoint(BASE, 'model.safetensors', base, { dtype: 'F16' });
    const adapter = folder('bf16-adapter');
    await copyCheckpoint(ADAPTER, 'adapter_model.safetensors', adapter, { dtype: 'BF16' });
    const r = await smoke({ adapterPath: adapter, basePath: base });
    assert.equal(r.ok, true, r.verdict);
    for (const m of r.modules) {
      assert.equal(m.status, 'pass');
      assert.match(check(m, 'load')?.message ?? '', /W F16, A BF16, B BF16/);
      assert.match(check(m, 'reference')?.message ?? '', /within bf16 rtol 0\.016/);
    }
  });

  it('patches row slices of a fused qkv weight', async () => {
    const base = folder('fused-base', BASE, 'config.json');
    const src = join(BASE, 'model.safetensors');
    const parts = await Promise.all(
      ['q', 'k', 'v'].map((p) => readF32(src, `model.layers.0.self_attn.${p}_proj.weight`)),
    );
    const qkv = new Float32Array(128 * 64);
    let at = 0;
    for (const p of parts) {
      qkv.set(p, at);
      at += p.length;
    }
    await copyCheckpoint(BASE, 'model.safetensors', base, {
      extra: [{ name: 'model.layers.0.self_attn.qkv_proj.weight', shape: [128, 64], data: qkv }],
      drop: /^model\.layers\.0\.self_attn\.[qkv]_proj\./,
    });
    const r = await smoke({ basePath: base });
    assert.equal(r.ok, true, r.verdict);
    const rows: Record<string, string> = { q_proj: '0–64', k_proj: '64–96', v_proj: '96–128' };
    for (const [leaf, range] of Object.entries(rows)) {
      const m = byName(r, `${P}${leaf}`);
      assert.equal(m.target, 'model.layers.0.self_attn.qkv_proj.weight');
      assert.equal(m.status, 'pass', JSON.stringify(m.checks));
      assert.match(check(m, 'shape')?.message ?? '', new RegExp(`rows ${range}`));
    }
  });
});

describe('runSmoke names a wrong mapping', () => {
  it('catches q_proj and v_proj swapped by overrides (shape and role)', async () => {
    const r = await smoke({
      overrides: [
        { module: Q, target: 'model.layers.0.self_attn.v_proj.weight' },
        { module: V, target: 'model.layers.0.self_attn.q_proj.weight' },
      ],
    });
    assert.equal(r.ok, false);
    const q = byName(r, Q);
    assert.equal(q.status, 'fail');
    assert.equal(
      check(q, 'role')?.message,
      'module model.layers.0.self_attn.q_proj (q) is mapped to model.layers.0.self_attn.v_proj.weight (v)',
    );
    assert.equal(
      check(q, 'shape')?.message,
      'B·A [64, 64] does not fit model.layers.0.self_attn.v_proj.weight [32, 64]',
    );
    assert.equal(check(q, 'load'), undefined, 'no data is read after a shape failure');
    assert.equal(byName(r, V).status, 'fail');
    assert.equal(r.modules.filter((m) => m.status === 'pass').length, 6);
    assert.match(
      r.verdict,
      /^6\/8 modules pass on cpu; 2 fail: model\.layers\.0\.self_attn\.q_proj \(role, shape\), model\.layers\.0\.self_attn\.v_proj \(role, shape\)$/,
    );
  });

  it('catches a lora_B stored transposed (shape)', async () => {
    const adapter = folder('transposed-b');
    const name = `${Q}.lora_B.weight`;
    const b = await readF32(join(ADAPTER, 'adapter_model.safetensors'), name);
    await copyCheckpoint(ADAPTER, 'adapter_model.safetensors', adapter, {
      replace: { [name]: { shape: [8, 64], data: transpose(b, 64, 8) } },
    });
    const r = await smoke({ adapterPath: adapter });
    assert.equal(r.ok, false);
    const q = byName(r, Q);
    assert.equal(q.status, 'fail');
    assert.match(
      check(q, 'shape')?.message ?? '',
      /lora_A \[8, 64\] and lora_B \[8, 64\] do not share a rank/,
    );
    assert.match(r.verdict, /1 fail: model\.layers\.0\.self_attn\.q_proj \(shape\)/);
  });

  it('catches a wrong scale (lora_alpha × 1000) as a delta explosion', async () => {
    const adapter = folder('big-alpha');
    copyFileSync(
      join(ADAPTER, 'adapter_model.safetensors'),
      join(adapter, 'adapter_model.safetensors'),
    );
    const config = JSON.parse(readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8')) as {
      lora_alpha: number;
    };
    config.lora_alpha *= 1000;
    writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify(config));
    const r = await smoke({ adapterPath: adapter });
    assert.equal(r.ok, false);
    for (const m of r.modules) {
      assert.equal(m.status, 'fail');
      assert.ok((m.deltaRatio ?? 0) > 10);
      assert.match(
        check(m, 'delta')?.message ?? '',
        /^delta \d+× the base output — wrong scale\? \(scale 2000 = alpha\/r\)$/,
      );
      assert.equal(check(m, 'reference')?.ok, true, 'the graph itself is still right');
    }
  });

  it('catches a wrong `transposed: true` on a square weight (reference)', async () => {
    const r = await smoke({
      overrides: [
        { module: Q, target: 'model.layers.0.self_attn.q_proj.weight', transposed: true },
      ],
    });
    assert.equal(r.ok, false);
    const q = byName(r, Q);
    assert.equal(q.status, 'fail');
    assert.equal(q.variant, 'linear-wt');
    assert.equal(check(q, 'shape')?.ok, true);
    assert.equal(check(q, 'reference')?.ok, false);
    assert.ok((q.maxAbsErr ?? 0) > 0.05, `err ${q.maxAbsErr}`);
    assert.match(
      check(q, 'reference')?.message ?? '',
      /stores model\.layers\.0\.self_attn\.q_proj\.weight as \[out, in\].*feeds it as \[in, out\]: wrong `transposed`\?/,
    );
    assert.match(r.verdict, /1 fail: model\.layers\.0\.self_attn\.q_proj \(reference\)/);
  });

  it('and the opposite on the ONNX export, whose MatMul weights are [in, out]', async () => {
    const mapped = await smoke({ basePath: ONNX_BASE, skipModel: true, modules: [Q] });
    const target = byName(mapped, Q).target ?? '';
    assert.match(target, /^onnx::MatMul_/);
    const r = await smoke({
      basePath: ONNX_BASE,
      skipModel: true,
      overrides: [{ module: Q, target, transposed: false }],
    });
    const q = byName(r, Q);
    assert.equal(q.variant, 'linear');
    assert.equal(check(q, 'reference')?.ok, false);
    assert.match(check(q, 'reference')?.message ?? '', /MatMul weight, stored \[in, out\]/);
  });
});

describe('runSmoke refuses by name', () => {
  it('NothingToTest when no module is mapped or asked for', async () => {
    await assert.rejects(smoke({ modules: ['nope'] }), (e: unknown) => {
      assert.ok(e instanceof SmokeError);
      assert.equal(e.code, 'NothingToTest');
      assert.match(e.message, /none of the requested modules \(nope\)/);
      return true;
    });
    const all = await smoke({});
    const rejectAll = all.modules.map((m) => ({ module: m.module, target: null }));
    await assert.rejects(smoke({ overrides: rejectAll }), /no adapter module is mapped/);
  });

  it("NoExecutionProvider with each rung's reason", async () => {
    const empty = folder('no-ort-libs');
    await assert.rejects(smoke({ eps: ['cuda'] }, { ortLibDir: empty }), (e: unknown) => {
      assert.ok(e instanceof SmokeError);
      assert.equal(e.code, 'NoExecutionProvider');
      assert.match(
        e.message,
        /cuda: skipped: libonnxruntime_providers_shared\.so not found in .*no-ort-libs/,
      );
      return true;
    });
  });

  it('SmokeCancelled between modules', async () => {
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      smoke(
        {},
        {
          signal: ac.signal,
          onEvent: (e: SmokeEvent) => e.type === 'module' && ++seen === 2 && ac.abort(),
        },
      ),
      (e: unknown) =>
        e instanceof SmokeError &&
        e.code === 'SmokeCancelled' &&
        /after 2 of 8 modules/.test(e.message),
    );
    assert.equal(seen, 2);
  });
});
