/** `lora-lens resize`: every module's ΔW truncated to a smaller rank, proven by its singular values. */
import { parseArgs } from 'node:util';
import { resizeAdapter, type ResizeReport } from '../core/surgery/resize.js';
import type { RankRule } from '../core/surgery/rankChoice.js';
import { STYLE_TEXT } from '../core/surgery/outputNaming.js';
import { formatBytes } from '../shared/format.js';
import { EXIT_OK, UsageError, type Io } from './cliCommon.js';
import { resizeUsage } from './usage.js';
import { parseNumber, parseStoreDtype, pct, rel, reportSurgeryError, table } from './surgeryCli.js';

export { resizeUsage };

function ruleOf(v: {
  rank?: string;
  energy?: string;
  ratio?: string;
  'max-rank'?: string;
}): RankRule {
  const given = (['rank', 'energy', 'ratio'] as const).filter((k) => v[k] !== undefined);
  if (given.length !== 1)
    throw new UsageError(
      `give exactly one of --rank, --energy or --ratio${given.length ? ` (got ${given.map((g) => `--${g}`).join(', ')})` : ''}`,
    );
  const max = parseNumber(v['max-rank'], '--max-rank');
  const cap = max !== undefined ? { maxRank: max } : {};
  if (v.rank !== undefined) {
    if (max !== undefined)
      throw new UsageError('--max-rank goes with --energy or --ratio, not --rank');
    return { kind: 'rank', rank: parseNumber(v.rank, '--rank') as number };
  }
  if (v.energy !== undefined)
    return { kind: 'energy', energy: parseNumber(v.energy, '--energy') as number, ...cap };
  return { kind: 'ratio', ratio: parseNumber(v.ratio, '--ratio') as number, ...cap };
}

function ruleText(r: ResizeReport): string {
  const rule = r.rule;
  const how = r.kohya ? ' (kohya rank choice)' : '';
  if (rule.kind === 'rank') return `rank ${rule.rank}${how}`;
  const cap = rule.maxRank !== undefined ? `, at most ${rule.maxRank}` : '';
  if (rule.kind === 'energy')
    return `energy ${rule.energy}: smallest rank keeping ≥ ${pct(rule.energy)} of ‖ΔW‖_F${cap}${how}`;
  return `ratio ${rule.ratio}: singular values ≥ σmax/${rule.ratio}${cap}${how}`;
}

export function resizeText(r: ResizeReport): string {
  const t = r.totals;
  const lines = [
    `resized ${t.modules} module${t.modules === 1 ? '' : 's'} of ${r.source} → ${r.weights}${r.config ? ` (+ ${r.config})` : ''}`,
    `  rule: ${ruleText(r)}; stored as ${r.dtype}`,
    '',
  ];
  const rows: string[][] = [['module', 'rank', 'retained', `${r.dtype} error`, 'bytes', 'note']];
  for (const m of r.modules)
    rows.push([
      m.name,
      `${m.rankBefore} → ${m.rankAfter}`,
      pct(m.retained),
      rel(m.castError),
      `${formatBytes(m.bytesBefore)} → ${formatBytes(m.bytesAfter)}`,
      m.conversion
        ? `from ${m.conversion.from} (conversion error ${rel(m.conversion.relativeError)})`
        : '',
    ]);
  lines.push(...table(rows));
  lines.push(
    '',
    `total: rank ${t.rankBefore} → ${t.rankAfter}, ${formatBytes(t.bytesBefore)} → ${formatBytes(t.bytesAfter)} (saved ${formatBytes(t.bytesSaved)}), retained ${pct(t.retained)} of ‖ΔW‖_F overall, worst module ${pct(t.worstRetained)}, worst ${r.dtype} error ${rel(t.worstCastError)}`,
    `scale: ${STYLE_TEXT[r.scaleStyle]}`,
  );
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export async function resizeCli(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        out: { type: 'string', short: 'o' },
        rank: { type: 'string' },
        energy: { type: 'string' },
        ratio: { type: 'string' },
        'max-rank': { type: 'string' },
        kohya: { type: 'boolean' },
        dtype: { type: 'string' },
      },
    });
    if (positionals.length !== 1)
      throw new UsageError(`resize takes one adapter, got ${positionals.length}\n${resizeUsage}`);
    if (!values.out) throw new UsageError('resize needs --out <file|folder>');
    const dtype = parseStoreDtype(values.dtype);
    const r = await resizeAdapter(positionals[0] as string, values.out, {
      rule: ruleOf(values),
      kohya: values.kohya ?? false,
      ...(dtype ? { dtype } : {}),
    });
    io.out(json ? JSON.stringify(r) : resizeText(r));
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
