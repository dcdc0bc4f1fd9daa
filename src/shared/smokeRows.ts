/** What the Smoke tab and the host's notifications say about a smoke report (no Node or DOM APIs). */
import type { SmokeModuleDto, SmokeReportDto, SmokeStatusDto } from './protocol.js';

const STATUS_ORDER: Record<SmokeStatusDto, number> = { fail: 0, warn: 1, skipped: 2, pass: 3 };

/** Failed rows first, then warnings, then skipped, then passes; the run's order within each. */
export function orderSmokeRows(rows: readonly SmokeModuleDto[]): SmokeModuleDto[] {
  return rows
    .map((row, i) => ({ row, i }))
    .sort((a, b) => STATUS_ORDER[a.row.status] - STATUS_ORDER[b.row.status] || a.i - b.i)
    .map((x) => x.row);
}

/** The message of the first failing check, else of the first warning: what the row is about. */
export function firstProblem(row: SmokeModuleDto): string {
  const failed = row.checks.find((c) => !c.ok && c.severity === 'error');
  const warned = row.checks.find((c) => !c.ok || c.severity === 'warning');
  return (failed ?? warned)?.message ?? '';
}

export type SmokeVerdictLevel = 'pass' | 'warn' | 'fail';

/** fail when the report is not ok; warn when it passed with warnings or warn rows; else pass. */
export function verdictLevel(report: SmokeReportDto): SmokeVerdictLevel {
  if (!report.ok) return 'fail';
  if (report.warnings.length > 0 || report.modules.some((m) => m.status === 'warn')) return 'warn';
  return 'pass';
}

export function countByStatus(rows: readonly SmokeModuleDto[]): Record<SmokeStatusDto, number> {
  const out: Record<SmokeStatusDto, number> = { pass: 0, warn: 0, fail: 0, skipped: 0 };
  for (const r of rows) out[r.status]++;
  return out;
}

/** Max errors are tiny: 3.1e-7; exact zeros stay "0"; not run is "—". */
export function formatError(n: number | null): string {
  if (n === null) return '—';
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return '0';
  return n.toExponential(1);
}

/** ‖ΔW·x‖ / ‖W·x‖ as a percentage; tiny ratios in exponent form so "≈0" is visible as such. */
export function formatRatio(n: number | null): string {
  if (n === null) return '—';
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return '0%';
  const pct = n * 100;
  if (pct < 0.01) return `${pct.toExponential(1)}%`;
  if (pct < 10) return `${pct.toPrecision(2)}%`;
  return `${pct.toFixed(0)}%`;
}

/** The tail of a module path that tells modules apart: "layers.12.self_attn.q_proj". */
export function shortPath(path: string, parts = 4): string {
  const p = path.split('.');
  return p.length <= parts ? path : `…${p.slice(-parts).join('.')}`;
}

export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
