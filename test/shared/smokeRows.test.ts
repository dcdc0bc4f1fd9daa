import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SmokeModuleDto, SmokeReportDto } from '../../src/shared/protocol.js';
import {
  countByStatus,
  firstProblem,
  formatError,
  formatMs,
  formatRatio,
  orderSmokeRows,
  shortPath,
  verdictLevel,
} from '../../src/shared/smokeRows.js';

function row(
  module: string,
  status: SmokeModuleDto['status'],
  checks: SmokeModuleDto['checks'] = [],
): SmokeModuleDto {
  return {
    module,
    target: `${module}.weight`,
    variant: 'linear',
    ok: status !== 'fail',
    status,
    maxAbsErr: 1e-7,
    deltaRatio: 0.03,
    ms: 1,
    checks,
  };
}

function report(modules: SmokeModuleDto[], ok: boolean, warnings: string[] = []): SmokeReportDto {
  return {
    ok,
    ep: 'cpu',
    epTried: [],
    placement: null,
    modules,
    model: null,
    switching: null,
    timings: { totalMs: 1, sessionMs: 1, modulesMs: 1, modelMs: 0 },
    verdict: '',
    warnings,
  };
}

describe('smoke rows', () => {
  it('puts failures first, then warnings, skipped and passes, keeping the run order within each', () => {
    const rows = [
      row('a', 'pass'),
      row('b', 'fail'),
      row('c', 'warn'),
      row('d', 'skipped'),
      row('e', 'fail'),
    ];
    assert.deepEqual(
      orderSmokeRows(rows).map((r) => r.module),
      ['b', 'e', 'c', 'd', 'a'],
    );
    assert.deepEqual(countByStatus(rows), { pass: 1, warn: 1, fail: 2, skipped: 1 });
  });

  it('names the first failing check, else the first warning', () => {
    const r = row('m', 'fail', [
      { name: 'shape', ok: true, severity: 'info', message: 'fits' },
      { name: 'delta', ok: true, severity: 'warning', message: 'delta is tiny' },
      { name: 'reference', ok: false, severity: 'error', message: 'max error 0.3 > 1e-4' },
    ]);
    assert.equal(firstProblem(r), 'max error 0.3 > 1e-4');
    const w = row('w', 'warn', [
      { name: 'shape', ok: true, severity: 'info', message: 'fits' },
      { name: 'delta', ok: true, severity: 'warning', message: 'delta is tiny' },
    ]);
    assert.equal(firstProblem(w), 'delta is tiny');
    assert.equal(
      firstProblem(
        row('p', 'pass', [{ name: 'shape', ok: true, severity: 'info', message: 'fits' }]),
      ),
      '',
    );
  });

  it('grades a report: fail when not ok, warn with warnings or warn rows, else pass', () => {
    assert.equal(verdictLevel(report([row('a', 'pass')], true)), 'pass');
    assert.equal(verdictLevel(report([row('a', 'warn')], true)), 'warn');
    assert.equal(verdictLevel(report([row('a', 'pass')], true, ['no placement'])), 'warn');
    assert.equal(verdictLevel(report([row('a', 'fail')], false)), 'fail');
  });

  it('formats errors, ratios and durations so tiny and absent values read as such', () => {
    assert.equal(formatError(null), '—');
    assert.equal(formatError(0), '0');
    assert.equal(formatError(3.14e-7), '3.1e-7');
    assert.equal(formatRatio(null), '—');
    assert.equal(formatRatio(0.031), '3.1%');
    assert.equal(formatRatio(0.5), '50%');
    assert.equal(formatRatio(1e-9), '1.0e-7%');
    assert.equal(shortPath('a.b'), 'a.b');
    assert.equal(shortPath('base_model.model.layers.3.mlp.up_proj'), '…layers.3.mlp.up_proj');
    assert.equal(formatMs(2.25), '2.3 ms');
    assert.equal(formatMs(1234), '1234 ms');
    assert.equal(formatMs(12_345), '12.3 s');
  });
});
