/** `lora-lens diff <a> <b>`: what differs between two checkpoints; exit 1 when they differ (for CI). */
import { parseArgs } from 'node:util';
import {
  DEFAULT_TOLERANCE,
  diffCheckpoints,
  diffText,
  limitReport,
} from '../core/compare/index.js';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { openPath } from '../core/formats/index.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  hubOptions,
  reportError,
  UsageError,
  type Io,
} from './cliCommon.js';
import { DEFAULT_TEXT_LIMIT, diffUsage } from './usage.js';

export { diffUsage };

function parseLimit(value: string | undefined, json: boolean): number {
  if (value === undefined) return json ? Infinity : DEFAULT_TEXT_LIMIT;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new UsageError(`--limit must be a whole number ≥ 0, got "${value}"`);
  return n;
}

function parseTolerance(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TOLERANCE;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(`--tolerance must be a number ≥ 0, got "${value}"`);
  return n;
}

export async function diffCli(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  const open: Checkpoint[] = [];
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        norms: { type: 'boolean' },
        tolerance: { type: 'string' },
        'ignore-renames': { type: 'boolean' },
        limit: { type: 'string' },
        'hub-endpoint': { type: 'string' },
      },
    });
    if (positionals.length !== 2)
      throw new UsageError(`diff takes two checkpoints, got ${positionals.length}\n${diffUsage}`);
    if (values.tolerance !== undefined && values.norms !== true)
      throw new UsageError('--tolerance goes with --norms');
    const limit = parseLimit(values.limit, json);
    const tolerance = parseTolerance(values.tolerance);
    const [pathA, pathB] = positionals as [string, string];
    const hub = hubOptions(values['hub-endpoint']);
    open.push(await openPath(pathA, { hub }));
    open.push(await openPath(pathB, { hub }));
    const report = await diffCheckpoints(
      { path: pathA, checkpoint: open[0] as Checkpoint },
      { path: pathB, checkpoint: open[1] as Checkpoint },
      { norms: values.norms === true, tolerance, ignoreRenames: values['ignore-renames'] === true },
    );
    io.out(
      json
        ? JSON.stringify(Number.isFinite(limit) ? limitReport(report, limit) : report)
        : diffText(report, limit),
    );
    return report.differ ? EXIT_CHECK_FAILED : EXIT_OK;
  } catch (e) {
    if (
      e instanceof TypeError &&
      'code' in e &&
      String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')
    )
      return reportError(io, json, new UsageError(e.message));
    return reportError(io, json, e);
  } finally {
    for (const c of open) await c.close().catch(() => undefined);
  }
}
