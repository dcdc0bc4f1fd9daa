/**
 * The Compare view's tables: a DiffReport as sections of text rows, paged on request. The report
 * stays in the host; a page is built when the view asks for it, so a 1M-key comparison costs only
 * the rows on screen. Kept free of `vscode` (unit-tested); it translates through @vscode/l10n, which
 * the extension configures with its bundle at activation.
 */
import * as l10n from '@vscode/l10n';
import type { DiffReport, DifferenceKind, FieldChange } from '../core/compare/types.js';
import type { CompareSection as CompareSectionName } from '../shared/compareProtocol.js';

type CompareSectionId = CompareSectionName;

export interface CompareSection {
  readonly id: CompareSectionId;
  readonly label: string;
  readonly columns: readonly string[];
  readonly count: number;
  row(i: number): string[];
}

const shape = (s: readonly number[]) => `[${s.join(', ')}]`;
const value = (v: FieldChange['a']) => (v === null ? '—' : String(v));
const num = (v: number | null) => (v === null ? '—' : v.toPrecision(4));

export function compareSections(r: DiffReport): CompareSection[] {
  const k = r.keys;
  const a = r.adapters;
  const out: CompareSection[] = [
    {
      id: 'onlyA',
      label: l10n.t('Only in A'),
      columns: [l10n.t('Key'), l10n.t('Dtype'), l10n.t('Shape'), l10n.t('Note')],
      count: k.onlyA.length,
      row: (i) => {
        const x = k.onlyA[i];
        return x
          ? [x.name, x.dtype, shape(x.shape), x.alphaOf ? l10n.t('alpha of {0}', x.alphaOf) : '']
          : [];
      },
    },
    {
      id: 'onlyB',
      label: l10n.t('Only in B'),
      columns: [l10n.t('Key'), l10n.t('Dtype'), l10n.t('Shape'), l10n.t('Note')],
      count: k.onlyB.length,
      row: (i) => {
        const x = k.onlyB[i];
        return x
          ? [x.name, x.dtype, shape(x.shape), x.alphaOf ? l10n.t('alpha of {0}', x.alphaOf) : '']
          : [];
      },
    },
    {
      id: 'changed',
      label: l10n.t('Shape or dtype changed'),
      columns: [l10n.t('Key in A'), l10n.t('Key in B'), l10n.t('A'), l10n.t('B')],
      count: k.changed.length,
      row: (i) => {
        const x = k.changed[i];
        return x
          ? [x.a, x.b, `${x.dtypeA} ${shape(x.shapeA)}`, `${x.dtypeB} ${shape(x.shapeB)}`]
          : [];
      },
    },
    {
      id: 'renamed',
      label: l10n.t('Renamed'),
      columns: [l10n.t('Key in A'), l10n.t('Key in B'), l10n.t('Found by')],
      count: k.renamed.length,
      row: (i) => {
        const x = k.renamed[i];
        if (!x) return [];
        const via =
          x.via === 'module' ? l10n.t('module part') : l10n.t('same normalized name and shape');
        return [x.a, x.b, x.transposed ? l10n.t('{0}, stored transposed', via) : via];
      },
    },
  ];
  if (a) {
    out.push({
      id: 'modules',
      label: l10n.t('Modules'),
      columns: [
        l10n.t('Module in A'),
        l10n.t('Module in B'),
        l10n.t('Target'),
        l10n.t('Paired by'),
      ],
      count: a.pairs.length,
      row: (i) => {
        const p = a.pairs[i];
        if (!p) return [];
        const via =
          p.via === 'mapping' && p.confidence !== undefined
            ? l10n.t('mapping ({0})', p.confidence.toFixed(2))
            : p.via;
        return [p.a, p.b, p.target, via];
      },
    });
    out.push({
      id: 'moduleChanges',
      label: l10n.t('Rank, alpha and scale changes'),
      columns: [l10n.t('Module in A'), l10n.t('Module in B'), l10n.t('Changes')],
      count: a.changes.length,
      row: (i) => {
        const c = a.changes[i];
        return c
          ? [c.a, c.b, c.changes.map((f) => `${f.field} ${value(f.a)} → ${value(f.b)}`).join(', ')]
          : [];
      },
    });
  }
  if (r.norms) {
    const n = r.norms;
    out.push({
      id: 'norms',
      label: l10n.t('‖ΔW_A − ΔW_B‖'),
      columns: [
        l10n.t('Module in A'),
        '‖ΔW_A‖',
        '‖ΔW_B‖',
        '‖ΔW_A − ΔW_B‖',
        l10n.t('Relative'),
        l10n.t('Note'),
      ],
      count: n.modules.length,
      row: (i) => {
        const m = n.modules[i];
        return m
          ? [
              m.a,
              num(m.normA),
              num(m.normB),
              num(m.diff),
              m.relative === null ? '—' : `${(100 * m.relative).toPrecision(3)}%`,
              m.note ?? (m.changed ? l10n.t('changed') : ''),
            ]
          : [];
      },
    });
  }
  return out;
}

/** One sentence per kind of difference found (whole sentences per plural form, for translators). */
export function differenceLines(r: DiffReport): string[] {
  const c = r.counts;
  const line: Record<DifferenceKind, () => string> = {
    'keys-only-in-a': () =>
      c.onlyA === 1 ? l10n.t('1 key only in A') : l10n.t('{0} keys only in A', c.onlyA),
    'keys-only-in-b': () =>
      c.onlyB === 1 ? l10n.t('1 key only in B') : l10n.t('{0} keys only in B', c.onlyB),
    'shape-or-dtype': () =>
      c.changed === 1
        ? l10n.t('1 key with another shape or dtype')
        : l10n.t('{0} keys with another shape or dtype', c.changed),
    renamed: () =>
      c.renamed === 1 ? l10n.t('1 key renamed') : l10n.t('{0} keys renamed', c.renamed),
    'module-settings': () =>
      c.moduleChanges === 1
        ? l10n.t('1 module with another rank, alpha or scale')
        : l10n.t('{0} modules with another rank, alpha or scale', c.moduleChanges),
    norms: () =>
      c.normsChanged === 1
        ? l10n.t('1 module whose ΔW changed')
        : l10n.t('{0} modules whose ΔW changed', c.normsChanged),
  };
  return r.differences.map((d) => line[d]());
}

/** Rows [start, start + count) of a section, clamped to what it has. */
export function sectionRows(s: CompareSection, start: number, count: number): string[][] {
  const end = Math.min(s.count, start + count);
  const rows: string[][] = [];
  for (let i = start; i < end; i++) rows.push(s.row(i));
  return rows;
}
