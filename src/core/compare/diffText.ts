/** The text form of a DiffReport (`lora-lens diff` without --json). */
import type { DiffReport, FieldChange, KeyFacts, ModuleNorm, SideSummary } from './types.js';

const facts = (k: KeyFacts): string => `${k.dtype} [${k.shape.join(', ')}]`;

const num = (x: number | string | boolean | null): string =>
  x === null ? 'unknown' : typeof x === 'number' ? String(Number(x.toPrecision(6))) : String(x);

const sci = (x: number | null): string => (x === null ? '—' : x === 0 ? '0' : x.toExponential(3));

function sideLine(label: string, s: SideSummary): string {
  const lora = s.modules > 0 ? `, ${s.family} adapter, ${s.modules} modules` : '';
  return `${label}  ${s.path} (${s.format}, ${s.tensors} tensors${lora})`;
}

/** A section: its title with the full count, the first lines, and how many were left out. */
function section(title: string, total: number, lines: readonly string[], limit: number): string[] {
  if (total === 0) return [];
  const shown = lines.slice(0, limit);
  const more = total - shown.length;
  return [
    '',
    `${title} (${total})`,
    ...shown.map((l) => `  ${l}`),
    ...(more > 0 ? [`  … ${more} more (--limit N, or --json)`] : []),
  ];
}

const change = (c: FieldChange): string => `${c.field} ${num(c.a)} → ${num(c.b)}`;

function normLine(m: ModuleNorm): string {
  const name = m.a === m.b ? m.a : `${m.a} ↔ ${m.b}`;
  if (m.diff === null) return `${name}: not computed (${m.note ?? 'unknown'})`;
  const rel = m.relative === null ? '' : `, relative ${sci(m.relative)}`;
  const mark = m.changed ? 'changed' : 'same';
  return `${name}: ${mark}, ‖ΔW_A−ΔW_B‖ ${sci(m.diff)}${rel} (‖ΔW_A‖ ${sci(m.normA)}, ‖ΔW_B‖ ${sci(m.normB)})${m.note ? `; ${m.note}` : ''}`;
}

export function diffText(r: DiffReport, limit: number): string {
  const c = r.counts;
  const verdict = r.differ ? `differ: ${r.differences.join(', ')}` : 'same';
  const lines = [
    sideLine('A', r.a),
    sideLine('B', r.b),
    `${verdict}${r.ignoreRenames ? ' (renames ignored)' : ''}`,
    `keys: ${c.same} same, ${c.onlyA} only in A, ${c.onlyB} only in B, ${c.changed} shape/dtype changed, ${c.renamed} renamed`,
  ];
  const k = r.keys;
  const only = (x: (typeof k.onlyA)[number]): string =>
    `${x.name}  ${facts(x)}${x.alphaOf ? `  (alpha of ${x.alphaOf}; the other file keeps alpha in its config)` : ''}`;
  lines.push(...section('only in A', c.onlyA, k.onlyA.map(only), limit));
  lines.push(...section('only in B', c.onlyB, k.onlyB.map(only), limit));
  lines.push(
    ...section(
      'shape/dtype changes',
      c.changed,
      k.changed.map(
        (x) =>
          `${x.a === x.b ? x.a : `${x.a} → ${x.b}`}  ${x.dtypeA} [${x.shapeA.join(', ')}] → ${x.dtypeB} [${x.shapeB.join(', ')}]`,
      ),
      limit,
    ),
  );
  lines.push(
    ...section(
      'renamed',
      c.renamed,
      k.renamed.map(
        (x) => `${x.a} → ${x.b}  (${x.via}${x.transposed ? ', stored transposed' : ''})`,
      ),
      limit,
    ),
  );
  const ad = r.adapters;
  if (ad) {
    const vias = new Map<string, number>();
    for (const p of ad.pairs) vias.set(p.via, (vias.get(p.via) ?? 0) + 1);
    const by = [...vias].map(([v, n]) => `${v} ${n}`).join(', ');
    lines.push(
      '',
      `adapters: ${ad.familyA} (${ad.modulesA} modules) vs ${ad.familyB} (${ad.modulesB} modules): ${c.modulePairs} paired${by ? ` (${by})` : ''}, ${ad.renamed} renamed, ${c.modulesOnlyA} only in A, ${c.modulesOnlyB} only in B`,
    );
    for (const n of ad.notes) lines.push(`  note: ${n}`);
    lines.push(...section('modules only in A', c.modulesOnlyA, ad.onlyA, limit));
    lines.push(...section('modules only in B', c.modulesOnlyB, ad.onlyB, limit));
    lines.push(
      ...section(
        'module settings changed',
        c.moduleChanges,
        ad.changes.map(
          (x) => `${x.a === x.b ? x.a : `${x.a} ↔ ${x.b}`}: ${x.changes.map(change).join(', ')}`,
        ),
        limit,
      ),
    );
  }
  if (r.norms) {
    const n = r.norms;
    lines.push(
      '',
      `norms (tolerance ${n.tolerance} relative): ${c.normsChanged} changed, ${n.modules.length - c.normsChanged - c.normsNotComputed} same, ${c.normsNotComputed} not computed`,
    );
    if (n.note) lines.push(`  ${n.note}`);
    lines.push(...n.modules.slice(0, limit).map((m) => `  ${normLine(m)}`));
    if (c.modulePairs > Math.min(limit, n.modules.length) && n.modules.length > 0)
      lines.push(
        `  … ${c.modulePairs - Math.min(limit, n.modules.length)} more (--limit N, or --json)`,
      );
  }
  return lines.join('\n');
}
