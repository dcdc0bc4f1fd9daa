/**
 * `lora-lens smoke`: run the adapter through onnxruntime in a child process (dist/smokeWorker.js) and
 * report per module, plus the whole model when the base is ONNX. The report shapes are the smoke
 * contract (src/core/smoke/types.ts); this file only builds the request and prints the answer.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HubOptions } from '../core/formats/index.js';
import { runSmokeInChild } from '../core/smoke/host/client.js';
import {
  EP_LADDER,
  type EpName,
  type SmokeEvent,
  type SmokeModuleResult,
  type SmokeReport,
  type SmokeRequest,
} from '../core/smoke/types.js';

export interface SmokeCliOptions {
  readonly mappingPath?: string;
  /** `auto` climbs the ladder (cuda → webgpu → cpu); a name forces that EP. */
  readonly ep: EpName | 'auto';
  readonly referencePath?: string;
  readonly cudaProviderPath?: string;
  readonly timeoutMs: number;
  readonly hub?: HubOptions;
  /** Progress lines (text mode streams them to stderr). */
  readonly onProgress?: (line: string) => void;
}

export const SMOKE_EPS: readonly string[] = ['auto', ...EP_LADDER];
export { DEFAULT_SMOKE_TIMEOUT_S } from './usage.js';

/**
 * Where the worker bundle is: `$LORA_LENS_SMOKE_WORKER`, else beside this file (dist/cli.js and
 * dist/smokeWorker.js ship together), else the repository's dist/ when running from sources.
 */
export function smokeWorkerPath(): string {
  const override = process.env.LORA_LENS_SMOKE_WORKER;
  if (override) return override;
  const candidates = [
    join(__dirname, 'smokeWorker.js'),
    join(__dirname, '..', '..', 'dist', 'smokeWorker.js'),
  ];
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
}

export async function runSmokeCli(
  adapterPath: string,
  basePath: string,
  options: SmokeCliOptions,
): Promise<SmokeReport> {
  const req: SmokeRequest = {
    adapterPath,
    basePath,
    eps: options.ep === 'auto' ? EP_LADDER : [options.ep],
    ...(options.mappingPath ? { mappingPath: options.mappingPath } : {}),
    ...(options.referencePath ? { referencePath: options.referencePath } : {}),
    ...(options.cudaProviderPath ? { cudaProviderPath: options.cudaProviderPath } : {}),
    ...(options.hub ? { hub: options.hub } : {}),
  };
  const progress = options.onProgress;
  return runSmokeInChild(req, {
    workerPath: smokeWorkerPath(),
    timeoutMs: options.timeoutMs,
    ...(options.cudaProviderPath ? { cudaProviderPath: options.cudaProviderPath } : {}),
    ...(progress ? { onEvent: (e: SmokeEvent) => progress(progressLine(e)) } : {}),
  });
}

/** One line of progress per event. */
export function progressLine(e: SmokeEvent): string {
  switch (e.type) {
    case 'phase':
      return `… ${e.message}`;
    case 'ep':
      return e.attempt.error === null
        ? `  ${e.attempt.ep}: ok`
        : `  ${e.attempt.ep}: not used (${e.attempt.error})`;
    case 'module':
      return `  [${e.index + 1}/${e.total}] ${e.result.status.padEnd(7)} ${e.result.module}`;
  }
}

/** The module row of the JSON report: the figures first, then what the contract adds. */
function moduleJson(m: SmokeModuleResult) {
  return {
    module: m.module,
    ok: m.ok,
    maxAbsErr: m.maxAbsErr,
    deltaRatio: m.deltaRatio,
    ms: m.ms,
    target: m.target,
    variant: m.variant,
    status: m.status,
    checks: m.checks,
  };
}

/** The `--json` object: exactly these keys, in this order. */
export function smokeJson(r: SmokeReport) {
  return {
    ok: r.ok,
    ep: r.ep,
    epTried: r.epTried.map((a) => ({ ep: a.ep, error: a.error })),
    modules: r.modules.map(moduleJson),
    model: r.model,
    switching: r.switching,
    placement: r.placement,
    timings: r.timings,
    verdict: r.verdict,
    warnings: r.warnings,
  };
}

export function smokeExitCode(r: SmokeReport): number {
  return r.ok ? 0 : 1;
}

function num(v: number | null, digits = 2): string {
  if (v === null) return '—';
  if (v === 0) return '0';
  return Math.abs(v) < 1e-3 || Math.abs(v) >= 1e4 ? v.toExponential(digits - 1) : v.toFixed(4);
}

function percent(v: number | null): string {
  return v === null ? '—' : `${(v * 100).toFixed(v < 0.001 ? 4 : 2)}%`;
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string[] {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => {
        const w = widths[c] ?? 0;
        return rightAligned.has(c) ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd(),
  );
}

/** The text report: module table, EP used and tried, placement, whole model, verdict. */
export function smokeText(r: SmokeReport): string {
  const lines: string[] = [];
  const rows = [
    ['module', 'target', 'status', 'max err', 'delta', 'ms'],
    ...r.modules.map((m) => [
      m.module,
      m.target ?? '—',
      m.status,
      num(m.maxAbsErr),
      percent(m.deltaRatio),
      m.ms.toFixed(0),
    ]),
  ];
  lines.push(...table(rows, new Set([3, 4, 5])));
  const failing = r.modules.filter((m) => !m.ok || m.status === 'warn');
  if (failing.length) {
    lines.push('');
    for (const m of failing)
      for (const c of m.checks)
        if (!c.ok || c.severity === 'warning')
          lines.push(`${m.ok ? 'warn' : 'FAIL'}  ${m.module}: ${c.name}: ${c.message}`);
  }
  lines.push('');
  const tried = r.epTried
    .map((a) => (a.error === null ? `${a.ep} ok` : `${a.ep} (${a.error})`))
    .join('; ');
  lines.push(`EP: ${r.ep ?? 'none'}${tried ? `   tried: ${tried}` : ''}`);
  if (r.placement) lines.push(`placement: ${r.placement}`);
  if (r.model) {
    const m = r.model;
    lines.push(
      `model: ${m.ok ? 'ok' : 'FAILED'}, ${m.patched} weights patched, ${m.inputs} inputs, ${m.ms.toFixed(0)} ms`,
    );
    for (const o of m.outputs)
      lines.push(
        `  ${o.name} ${JSON.stringify(o.shape)}: changes by ${percent(o.relativeChange)}` +
          (o.maxAbsErrVsReference === null
            ? ''
            : `, max err vs reference ${num(o.maxAbsErrVsReference)}`) +
          (o.finite ? '' : ', NOT FINITE') +
          (o.ok ? '' : '  FAIL'),
      );
    for (const p of m.problems) lines.push(`  problem: ${p}`);
  }
  if (r.switching)
    lines.push(
      `switching ${r.switching.adapters} adapters: ${r.switching.switchMs.toFixed(1)} ms on a cached session, ` +
        `${r.switching.rebuildMs.toFixed(1)} ms with a rebuild`,
    );
  const t = r.timings;
  lines.push(
    `time: ${t.totalMs.toFixed(0)} ms (session ${t.sessionMs.toFixed(0)}, modules ${t.modulesMs.toFixed(0)}, model ${t.modelMs.toFixed(0)})`,
  );
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  lines.push('', `${r.ok ? 'PASS' : 'FAIL'}: ${r.verdict}`);
  return lines.join('\n');
}
