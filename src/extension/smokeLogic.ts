/**
 * The decisions behind the smoke-test commands that do not need VS Code: setting validation, the
 * request's overrides, progress text, error wording and the remembered-report store. Kept free of
 * `vscode` so the unit tests run them directly.
 *
 * User-visible text (progress, error notifications) goes through `@vscode/l10n`, which needs no VS
 * Code: `activate` hands it the host's bundle (`vscode.l10n.bundle`), and unconfigured (unit tests,
 * English) it returns the English text. Setting warnings only reach the log and stay English.
 */
import { basename, dirname, extname, join } from 'node:path';
import * as l10n from '@vscode/l10n';
import {
  EP_LADDER,
  type EpName,
  type SmokeErrorCode,
  type SmokeRequest,
} from '../core/smoke/types.js';
import type { MappingRowDto, SmokeEventDto, SmokeReportDto } from '../shared/protocol.js';
import { shortPath } from '../shared/smokeRows.js';

export const DEFAULT_SMOKE_TIMEOUT_SECONDS = 600;
export const MIN_SMOKE_TIMEOUT_SECONDS = 10;

/** A setting's value after validation, with the warning to log when the raw value was refused. */
export interface Validated<T> {
  readonly value: T;
  readonly warning?: string;
}

/** `loraLens.executionProviders`: known names, no repeats, at least one; else the default ladder. */
export function parseExecutionProviders(raw: unknown): Validated<EpName[]> {
  const fallback = (why: string): Validated<EpName[]> => ({
    value: [...EP_LADDER],
    warning: `loraLens.executionProviders ${why}; using ${EP_LADDER.join(', ')}`,
  });
  if (raw === undefined || raw === null) return { value: [...EP_LADDER] };
  if (!Array.isArray(raw)) return fallback('is not a list');
  const out: EpName[] = [];
  for (const v of raw) {
    if (typeof v !== 'string' || !(EP_LADDER as readonly string[]).includes(v.toLowerCase()))
      return fallback(`has an unknown provider ${JSON.stringify(v)} (known: cuda, webgpu, cpu)`);
    const ep = v.toLowerCase() as EpName;
    if (!out.includes(ep)) out.push(ep);
  }
  if (out.length === 0) return fallback('is empty');
  return { value: out };
}

/** `loraLens.smokeTest.timeoutSeconds`: a finite number of at least 10 seconds. */
export function parseTimeoutSeconds(raw: unknown): Validated<number> {
  if (raw === undefined || raw === null) return { value: DEFAULT_SMOKE_TIMEOUT_SECONDS };
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= MIN_SMOKE_TIMEOUT_SECONDS)
    return { value: raw };
  return {
    value: DEFAULT_SMOKE_TIMEOUT_SECONDS,
    warning: `loraLens.smokeTest.timeoutSeconds must be a number ≥ ${MIN_SMOKE_TIMEOUT_SECONDS} (got ${JSON.stringify(raw)}); using ${DEFAULT_SMOKE_TIMEOUT_SECONDS}`,
  };
}

/** An optional path setting: a non-empty string, trimmed; anything else is "not set". */
export function parseOptionalPath(name: string, raw: unknown): Validated<string | undefined> {
  if (raw === undefined || raw === null || raw === '') return { value: undefined };
  if (typeof raw !== 'string')
    return { value: undefined, warning: `${name} must be a path (got ${JSON.stringify(raw)})` };
  const v = raw.trim();
  return { value: v === '' ? undefined : v };
}

type Override = NonNullable<SmokeRequest['overrides']>[number];

/**
 * The user's decisions as the Mapping tab shows them, as request overrides: what is tested is what the
 * user sees, including the slice and orientation the editor settled on for an accepted target.
 */
export function overridesFromRows(rows: readonly MappingRowDto[]): Override[] {
  return rows
    .filter((r) => r.source === 'user')
    .map((r): Override => {
      if (r.target === null) return { module: r.module, target: null };
      const axis = r.slice?.axis;
      const slice: Override['slice'] =
        r.slice && (axis === 0 || axis === 1)
          ? { axis, start: r.slice.start, end: r.slice.end }
          : null;
      return { module: r.module, target: r.target, slice, transposed: r.transposed };
    });
}

/** What the progress notification says for an event, and how far it moves the bar (in %). */
export function progressStep(event: SmokeEventDto): { message: string; increment?: number } {
  switch (event.type) {
    case 'phase':
      return { message: event.message };
    case 'ep':
      return {
        message: event.attempt.error
          ? l10n.t('{0} unavailable, trying the next provider…', event.attempt.ep)
          : l10n.t('running on {0}', event.attempt.ep),
      };
    case 'module': {
      const total = Math.max(1, event.total);
      return {
        message: l10n.t(
          'module {0}/{1} {2}',
          event.index + 1,
          event.total,
          shortPath(event.result.module),
        ),
        increment: 100 / total,
      };
    }
  }
}

/** One log line per event. */
export function eventLogLine(event: SmokeEventDto): string {
  switch (event.type) {
    case 'phase':
      return `smoke: [${event.phase}] ${event.message}`;
    case 'ep':
      return `smoke: ${event.attempt.ep}: ${event.attempt.error ?? 'in use'}`;
    case 'module': {
      const r = event.result;
      const problems = r.checks.filter((c) => !c.ok || c.severity === 'warning');
      return (
        `smoke: module ${event.index + 1}/${event.total} ${r.module} → ${r.target ?? '∅'}: ${r.status}` +
        ` (maxAbsErr ${r.maxAbsErr ?? '—'}, delta ${r.deltaRatio ?? '—'}, ${r.ms.toFixed(1)} ms)` +
        (problems.length ? ` — ${problems.map((c) => `${c.name}: ${c.message}`).join('; ')}` : '')
      );
    }
  }
}

/**
 * The notification for a named failure of the smoke test or the merge. `what` comes translated from
 * the caller ("the smoke test failed"); `message` is the engine's own English detail.
 */
export function smokeErrorText(what: string, code: string, message: string): string {
  return l10n.t('LoRA Lens: {0} — {1}', what, explainSmokeError(code, message));
}

function explainSmokeError(code: string, message: string): string {
  switch (code as SmokeErrorCode) {
    case 'OrtUnavailable':
      return l10n.t('onnxruntime-node could not be loaded: {0}', message);
    case 'NoExecutionProvider':
      return l10n.t('no execution provider could run it: {0}', message);
    case 'NothingToTest':
      return l10n.t('nothing to test: {0}', message);
    case 'SmokeTimeout':
      return l10n.t(
        '{0}. Raise {1} for large models.',
        message,
        'loraLens.smokeTest.timeoutSeconds',
      );
    case 'SmokeCancelled':
      return l10n.t('cancelled.');
    case 'SmokeCrashed':
      return l10n.t('{0}. The last lines it printed are in the LoRA Lens log.', firstLine(message));
    case 'InvalidReference':
      return l10n.t(
        'the reference file ({0}) is not usable: {1}',
        'loraLens.smokeTest.referencePath',
        message,
      );
    default:
      return `${code}: ${message}`;
  }
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return (i < 0 ? s : s.slice(0, i)).replace(/;\s*its last output:?$/, '');
}

/** Where the merged exports propose to write: `<base name>-merged.onnx|.safetensors` beside the adapter. */
export function mergedOutPath(
  adapterPath: string,
  basePath: string,
  ext: 'onnx' | 'safetensors' = 'onnx',
): string {
  const file = basename(basePath);
  // A shard index is named after its folder (`Llama-3-8B/model.safetensors.index.json`).
  const name = /\.index\.json$/i.test(file)
    ? basename(dirname(basePath))
    : basename(file, extname(file));
  return join(dirname(adapterPath), `${name || 'model'}-merged.${ext}`);
}

/** The last run of one adapter with one base, as remembered in the workspace. */
export interface StoredSmoke {
  readonly report: SmokeReportDto;
  readonly at: number;
  readonly base: string;
}

export const MAX_STORED_SMOKE = 20;

export function smokeKey(adapter: string, base: string): string {
  return `${adapter}|${base}`;
}

/** Adds a run and keeps the most recent `max` entries, so the workspace state stays small. */
export function storeSmoke(
  all: Readonly<Record<string, StoredSmoke>>,
  key: string,
  entry: StoredSmoke,
  max = MAX_STORED_SMOKE,
): Record<string, StoredSmoke> {
  const entries = Object.entries({ ...all, [key]: entry })
    .sort((a, b) => b[1].at - a[1].at)
    .slice(0, max);
  return Object.fromEntries(entries);
}
