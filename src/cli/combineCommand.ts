/** `lora-lens combine`: Σ wᵢ·ΔWᵢ of several adapters as one adapter, exact (cat) or re-factorised (svd). */
import { parseArgs } from 'node:util';
import { combineAdapters, type CombineReport } from '../core/surgery/combine.js';
import { SurgeryError } from '../core/surgery/errors.js';
import { STYLE_TEXT } from '../core/surgery/outputNaming.js';
import { formatBytes } from '../shared/format.js';
import { EXIT_OK, UsageError, type Io } from './cliCommon.js';
import { combineUsage } from './usage.js';
import { parseNumber, parseStoreDtype, pct, rel, reportSurgeryError, table } from './surgeryCli.js';

export { combineUsage };

function parseWeights(text: string | undefined): number[] {
  if (text === undefined) throw new UsageError('combine needs --weights w1,w2,… (one per adapter)');
  const parts = text.split(',').map((s) => s.trim());
  const ws = parts.map(Number);
  const bad = parts.findIndex((s, i) => s === '' || !Number.isFinite(ws[i]));
  if (bad >= 0)
    throw new SurgeryError(
      'InvalidWeights',
      `--weights must be numbers separated by commas, got "${text}"`,
      '--weights',
    );
  return ws;
}

export function combineText(r: CombineReport): string {
  const t = r.totals;
  const lines = [
    `combined ${r.sources.length} adapters (${r.method}, weights ${r.weights.join(', ')}) → ${r.weightsFile}${r.config ? ` (+ ${r.config})` : ''}`,
    `  ${t.modules} modules matched by ${r.matchedBy}; stored as ${r.dtype}`,
    '',
  ];
  const rows: string[][] = [
    [
      'module',
      'inputs (rank)',
      'rank',
      r.method === 'svd' ? 'error' : 'exact',
      `${r.dtype} error`,
      'bytes',
    ],
  ];
  for (const m of r.modules)
    rows.push([
      m.name,
      m.inputs.map((i) => `#${i.adapter + 1}:${i.rank}`).join(' '),
      String(m.rank),
      r.method === 'svd' ? `${rel(m.error)} (retained ${pct(m.retained)})` : 'yes',
      rel(m.castError),
      formatBytes(m.bytes),
    ]);
  lines.push(...table(rows));
  lines.push(
    '',
    `total: rank ${t.rank}, worst ${r.method} error ${rel(t.worstError)}, worst ${r.dtype} error ${rel(t.worstCastError)}, file ${formatBytes(t.fileBytes)}`,
  );
  lines.push(`scale: ${STYLE_TEXT[r.scaleStyle]}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export async function combineCli(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        out: { type: 'string', short: 'o' },
        weights: { type: 'string', short: 'w' },
        method: { type: 'string' },
        rank: { type: 'string' },
        dtype: { type: 'string' },
      },
    });
    if (positionals.length < 2)
      throw new UsageError(
        `combine takes at least two adapters, got ${positionals.length}\n${combineUsage}`,
      );
    if (!values.out) throw new UsageError('combine needs --out <file|folder>');
    const method = values.method ?? 'cat';
    if (method !== 'cat' && method !== 'svd')
      throw new UsageError(`--method must be cat or svd, got "${method}"`);
    if (values.rank !== undefined && method !== 'svd')
      throw new UsageError('--rank goes with --method svd (cat keeps every rank)');
    const weights = parseWeights(values.weights);
    const rank = parseNumber(values.rank, '--rank');
    const dtype = parseStoreDtype(values.dtype);
    const r = await combineAdapters(positionals, values.out, {
      weights,
      method,
      ...(rank !== undefined ? { rank } : {}),
      ...(dtype ? { dtype } : {}),
    });
    io.out(json ? JSON.stringify(r) : combineText(r));
    return EXIT_OK;
  } catch (e) {
    if (
      e instanceof TypeError &&
      'code' in e &&
      String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')
    )
      return reportSurgeryError(io, json, new UsageError(e.message));
    return reportSurgeryError(io, json, e);
  }
}
