import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  eventLogLine,
  mergedOutPath,
  overridesFromRows,
  parseExecutionProviders,
  parseOptionalPath,
  parseTimeoutSeconds,
  progressStep,
  smokeErrorText,
  storeSmoke,
  type StoredSmoke,
} from '../../src/extension/smokeLogic.js';
import type { MappingRowDto, SmokeReportDto } from '../../src/shared/protocol.js';

function mappingRow(patch: Partial<MappingRowDto>): MappingRowDto {
  return {
    module: 'm',
    moduleTarget: 'm',
    kind: 'linear',
    rank: 4,
    target: 'm.weight',
    confidence: 1,
    level: 'high',
    reason: '',
    shapeCheck: 'fits',
    transposed: false,
    slice: null,
    source: 'matcher',
    alternatives: [],
    ...patch,
  };
}

const REPORT: SmokeReportDto = {
  ok: true,
  ep: 'cpu',
  epTried: [],
  placement: null,
  modules: [],
  model: null,
  switching: null,
  timings: { totalMs: 0, sessionMs: 0, modulesMs: 0, modelMs: 0 },
  verdict: 'ok',
  warnings: [],
};

describe('smoke settings', () => {
  it('keeps a valid ladder in order, lower-cased and without repeats', () => {
    assert.deepEqual(parseExecutionProviders(['WebGPU', 'cpu', 'webgpu']), {
      value: ['webgpu', 'cpu'],
    });
    assert.deepEqual(parseExecutionProviders(['cpu']).value, ['cpu']);
    assert.deepEqual(parseExecutionProviders(undefined), { value: ['cuda', 'webgpu', 'cpu'] });
  });

  it('falls back to the default ladder with a warning on bad values', () => {
    for (const bad of [[], ['tpu'], 'cpu', [3]]) {
      const r = parseExecutionProviders(bad);
      assert.deepEqual(r.value, ['cuda', 'webgpu', 'cpu']);
      assert.match(r.warning ?? '', /loraLens\.executionProviders/);
    }
  });

  it('accepts timeouts from 10 s and refuses the rest with a warning', () => {
    assert.deepEqual(parseTimeoutSeconds(30), { value: 30 });
    assert.deepEqual(parseTimeoutSeconds(undefined), { value: 600 });
    for (const bad of [5, -1, Number.NaN, '60']) {
      const r = parseTimeoutSeconds(bad);
      assert.equal(r.value, 600);
      assert.match(r.warning ?? '', /timeoutSeconds/);
    }
  });

  it('treats empty paths as unset and non-strings as errors', () => {
    assert.deepEqual(parseOptionalPath('x', ''), { value: undefined });
    assert.deepEqual(parseOptionalPath('x', '  /opt/cuda  '), { value: '/opt/cuda' });
    assert.match(parseOptionalPath('x', 12).warning ?? '', /x must be a path/);
  });
});

describe('smoke request', () => {
  it('sends only the user decisions, with the slice and orientation the editor shows', () => {
    const rows = [
      mappingRow({ module: 'a' }),
      mappingRow({ module: 'b', source: 'user', target: null }),
      mappingRow({
        module: 'c',
        source: 'user',
        target: 'qkv.weight',
        transposed: true,
        slice: { axis: 0, start: 8, end: 16 },
      }),
      mappingRow({ module: 'd', source: 'user', slice: { axis: 2, start: 0, end: 1 } }),
    ];
    assert.deepEqual(overridesFromRows(rows), [
      { module: 'b', target: null },
      {
        module: 'c',
        target: 'qkv.weight',
        slice: { axis: 0, start: 8, end: 16 },
        transposed: true,
      },
      { module: 'd', target: 'm.weight', slice: null, transposed: false },
    ]);
  });

  it('proposes <base>-merged.onnx beside the adapter', () => {
    assert.equal(
      mergedOutPath('/w/lora/adapter.safetensors', '/m/model.onnx'),
      '/w/lora/model-merged.onnx',
    );
  });
});

describe('smoke progress and messages', () => {
  const result = {
    module: 'base_model.model.model.layers.12.self_attn.q_proj',
    target: 'model.layers.12.self_attn.q_proj.weight',
    variant: 'linear',
    ok: false,
    status: 'fail' as const,
    maxAbsErr: 0.5,
    deltaRatio: 0.02,
    ms: 3.25,
    checks: [{ name: 'reference', ok: false, severity: 'error' as const, message: 'off by 0.5' }],
  };

  it('moves the bar by one module and names it', () => {
    const step = progressStep({ type: 'module', index: 11, total: 224, result });
    assert.equal(step.message, 'module 12/224 …layers.12.self_attn.q_proj');
    assert.ok(Math.abs((step.increment ?? 0) - 100 / 224) < 1e-12);
    assert.equal(
      progressStep({ type: 'phase', phase: 'ep', message: 'trying cuda' }).increment,
      undefined,
    );
  });

  it('logs a module with its figures and failing checks', () => {
    const line = eventLogLine({ type: 'module', index: 0, total: 2, result });
    assert.match(line, /module 1\/2 .*q_proj → model\.layers\.12\.self_attn\.q_proj\.weight: fail/);
    assert.match(line, /maxAbsErr 0\.5/);
    assert.match(line, /reference: off by 0\.5/);
    assert.match(
      eventLogLine({ type: 'ep', attempt: { ep: 'cuda', error: 'libcudnn.so.9 missing' } }),
      /cuda: libcudnn\.so\.9 missing/,
    );
  });

  it('words the named failures', () => {
    assert.match(
      smokeErrorText('the smoke test failed', 'OrtUnavailable', 'no binding'),
      /onnxruntime-node could not be loaded: no binding/,
    );
    const crash = smokeErrorText(
      'the smoke test failed',
      'SmokeCrashed',
      'the smoke-test process was killed by SIGSEGV before it answered; its last output:\nline 1\nline 2',
    );
    assert.match(crash, /killed by SIGSEGV before it answered\. The last lines/);
    assert.doesNotMatch(crash, /line 1/);
    assert.match(smokeErrorText('x', 'Weird', 'msg'), /Weird: msg/);
  });
});

describe('remembered smoke reports', () => {
  it('keeps the most recent runs only', () => {
    let all: Record<string, StoredSmoke> = {};
    for (let i = 0; i < 5; i++)
      all = storeSmoke(all, `k${i}`, { report: REPORT, at: i, base: 'b' }, 3);
    assert.deepEqual(Object.keys(all).sort(), ['k2', 'k3', 'k4']);
    all = storeSmoke(all, 'k2', { report: REPORT, at: 10, base: 'b' }, 3);
    assert.equal(all['k2']?.at, 10);
    assert.equal(Object.keys(all).length, 3);
  });
});
