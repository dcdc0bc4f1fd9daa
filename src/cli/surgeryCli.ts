/** What `resize` and `combine` share: the dtype option, named-error reporting, number formatting. */
import { SurgeryError } from '../core/surgery/errors.js';
import type { StoreDtype } from '../core/surgery/castReport.js';
import { report, reportError, UsageError, type Io } from './cliCommon.js';

const DTYPES: Record<string, StoreDtype> = {
  f32: 'F32',
  fp32: 'F32',
  f16: 'F16',
  fp16: 'F16',
  bf16: 'BF16',
  f8_e4m3: 'F8_E4M3',
  fp8_e4m3: 'F8_E4M3',
  f8: 'F8_E4M3',
};

export function parseStoreDtype(value: string | undefined): StoreDtype | undefined {
  if (value === undefined) return undefined;
  const d = DTYPES[value.toLowerCase()];
  if (!d) throw new UsageError(`--dtype must be f32, f16, bf16 or f8_e4m3, got "${value}"`);
  return d;
}

/** A number option: a UsageError names the option when it is not a number at all. */
export function parseNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n))
    throw new UsageError(`${option} must be a number, got "${value}"`);
  return n;
}

export function reportSurgeryError(io: Io, json: boolean, e: unknown): number {
  if (e instanceof SurgeryError) return report(io, json, e.code, e.message, e.subject);
  return reportError(io, json, e);
}

export const pct = (x: number): string => `${(100 * x).toFixed(x >= 0.9995 || x === 0 ? 1 : 2)}%`;

/** A relative error in short scientific notation (0 stays 0). */
export const rel = (x: number): string => (x === 0 ? '0' : x.toExponential(1));

/** Left-aligned columns. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '),
  );
}
