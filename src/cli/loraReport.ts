import type { ModuleStats } from '../core/lora/stats/index.js';
import { statsWarnings } from '../core/lora/statsSummary.js';
import type { Histogram, LoraAnalysis } from '../core/lora/types.js';
import { formatInt, formatRanges } from '../shared/format.js';

const hist = <T>(h: readonly Histogram<T>[], unit = '') =>
  h
    .map((x) => `${x.value === null ? '?' : String(x.value)}${unit} ×${formatInt(x.count)}`)
    .join(', ');

/** The LoRA section of `lora-lens inspect`. */
export function loraText(a: LoraAnalysis): string[] {
  if (a.family === 'none')
    return ['', 'LoRA: none (no adapter tensors; a base model or another checkpoint)'];
  const s = a.summary;
  const origins = [...new Set(a.modules.map((m) => m.alphaOrigin))].join(', ');
  const rules = [...new Set(a.modules.map((m) => m.scaleRule))].join(', ');
  const lines = ['', `LoRA: ${a.familyLabel} (${a.family})`];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(10)} ${v}`);
  row('evidence', a.evidence.slice(0, 3).join('; ') + (a.evidence.length > 3 ? '; …' : ''));
  row('modules', `${formatInt(a.modules.length)} (${hist(s.kinds)})`);
  for (const l of s.layers) row('layers', `${l.stack} ${formatRanges(l.indices)}`);
  row('rank', hist(s.ranks));
  row('alpha', `${hist(s.alphas)} (from ${origins})`);
  row('scale', `${hist(s.scales)} (${rules})`);
  row('targets', hist(s.targets));
  if (a.nonLora.length) {
    const byCat = new Map<string, number>();
    for (const e of a.nonLora) byCat.set(e.category, (byCat.get(e.category) ?? 0) + (e.count ?? 1));
    row('not LoRA', [...byCat].map(([c, n]) => `${c} ×${formatInt(n)}`).join(', '));
  }
  for (const w of a.warnings) row('warning', w);
  return lines;
}

const num = (n: number | null) => (n === null ? '?' : n >= 100 ? n.toFixed(1) : n.toPrecision(4));

/** The `--stats` section: the largest deltas first, then what looks wrong. */
export function statsText(stats: readonly ModuleStats[]): string {
  const lines = [`statistics (${stats.length} modules, ‖scale·B·A‖_F, largest first)`];
  const sorted = [...stats].sort((a, b) => (b.norm ?? -1) - (a.norm ?? -1));
  for (const s of sorted.slice(0, 10)) {
    const maxAbs = Math.max(
      ...Object.entries(s.maxAbs)
        .filter(([part]) => part !== 'alpha')
        .map(([, v]) => v),
    );
    lines.push(
      `  ${num(s.norm).padStart(10)}  max|w| ${num(Number.isFinite(maxAbs) ? maxAbs : null)}  ${s.module}${s.normNote ? ` (${s.normNote})` : ''}`,
    );
  }
  if (sorted.length > 10) lines.push(`  … ${sorted.length - 10} more (use --json)`);
  for (const w of statsWarnings(stats)) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
