/**
 * The vscode-free parts of the editor's Resize… and Combine With…: reading the user's answers, the
 * per-module report shown before anything is written, and the staging folder. The result is computed
 * into a temp folder beside the destination (named like every temp, so a crash leaves nothing the next
 * write does not sweep) and only renamed into place when the user accepts the report.
 */
import * as l10n from '@vscode/l10n';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { refuseSources } from '../core/export/atomicFile.js';
import { claimTemp, releaseTemp, removeStaleTemps } from '../core/export/tempFiles.js';
import type { RemapResult } from '../core/mapping/export/remap.js';
import type { CombineReport } from '../core/surgery/combine.js';
import { validateRule, type RankRule } from '../core/surgery/rankChoice.js';
import type { ResizeReport } from '../core/surgery/resize.js';
import { formatBytes, formatInt } from '../shared/format.js';

export type RuleKind = RankRule['kind'];

/** The rule from the user's text, or a sentence saying what is wrong (for an input box). */
export function parseRule(kind: RuleKind, text: string): RankRule | string {
  const v = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(v)) return l10n.t('Enter a number.');
  const rule: RankRule =
    kind === 'rank'
      ? { kind, rank: v }
      : kind === 'energy'
        ? { kind, energy: v > 1 && v <= 100 ? v / 100 : v }
        : { kind, ratio: v };
  try {
    return validateRule(rule);
  } catch (e) {
    return e instanceof Error ? e.message.replace(/^--\w+ /, '') : String(e);
  }
}

/** `1, 0.5, -0.25` → weights, one per adapter; or what is wrong. */
export function parseWeights(text: string, count: number): number[] | string {
  const parts = text.split(/[,\s]+/).filter((p) => p.length > 0);
  const ws = parts.map(Number);
  if (ws.some((w) => !Number.isFinite(w)))
    return l10n.t('Weights are numbers, like 1, 0.5, -0.25.');
  if (ws.length !== count) return l10n.t('Give {0} weights, one per adapter.', count);
  return ws;
}

const pct = (x: number) => `${(100 * x).toFixed(x >= 0.9995 ? 1 : 2)}%`;
const err = (x: number) => (x === 0 ? '0' : x.toExponential(1));

export interface ReportRow {
  readonly label: string;
  readonly description: string;
  readonly detail?: string;
}

/** One line of totals and one row per module, as the confirmation list shows them. */
export function resizeRows(r: ResizeReport): { title: string; rows: ReportRow[] } {
  const t = r.totals;
  return {
    title: l10n.t(
      'Resize {0} modules: rank {1} → {2}, {3} of ‖ΔW‖ kept, {4} saved',
      formatInt(t.modules),
      formatInt(t.rankBefore),
      formatInt(t.rankAfter),
      pct(t.retained),
      formatBytes(t.bytesSaved),
    ),
    rows: r.modules.map((m) => ({
      label: m.name,
      description: l10n.t(
        'rank {0} → {1} · {2} kept · {3} error',
        m.rankBefore,
        m.rankAfter,
        pct(m.retained),
        err(m.truncationError),
      ),
      ...(m.conversion
        ? {
            detail: l10n.t(
              'converted from {0} (error {1})',
              m.conversion.from,
              err(m.conversion.relativeError),
            ),
          }
        : {}),
    })),
  };
}

export function combineRows(r: CombineReport): { title: string; rows: ReportRow[] } {
  const t = r.totals;
  return {
    title: l10n.t(
      'Combine {0} adapters ({1}): {2} modules, total rank {3}, worst error {4}',
      r.sources.length,
      r.method,
      formatInt(t.modules),
      formatInt(t.rank),
      err(t.worstError),
    ),
    rows: r.modules.map((m) => ({
      label: m.name,
      description: l10n.t(
        'rank {0} from {1} · error {2} · {3} cast error',
        m.rank,
        m.inputs.map((i) => `#${i.adapter + 1} r${i.rank}`).join(' + '),
        err(m.error),
        err(m.castError),
      ),
    })),
  };
}

/**
 * Export For Architecture…: one row per fused or split conversion (exact: s·B·A is unchanged), one
 * per module written as it is, and one per module left out with the reason; the title counts them.
 */
export function exportRows(r: RemapResult, baseName: string): { title: string; rows: ReportRow[] } {
  const converted = new Set<string>();
  const rows: ReportRow[] = [];
  for (const c of r.conversions) {
    // The written modules of a conversion are its rows here, found by the base parameter they target.
    if (c.kind === 'fuse') converted.add(c.fused);
    else for (const m of c.members) converted.add(m.target);
    rows.push(
      c.kind === 'fuse'
        ? {
            label: `$(merge) ${c.fused}`,
            description: l10n.t(
              'fused from {0} · rank {1} · exact',
              c.members.map((m) => `${m.part} r${m.rank}`).join(' + '),
              c.rank,
            ),
            detail: c.members.map((m) => m.module).join(', '),
          }
        : {
            label: `$(split-horizontal) ${c.fused}`,
            description: l10n.t(
              'split onto {0} · rank {1} · exact',
              c.members.map((m) => m.part).join(', '),
              c.rank,
            ),
            detail: c.members.map((m) => m.target).join(', '),
          },
    );
  }
  for (const m of r.modules)
    if (!converted.has(m.target))
      rows.push({
        label: m.module,
        description: l10n.t('→ {0}{1}', m.target, m.rewritten ? l10n.t(' (rearranged)') : ''),
      });
  for (const s of r.skipped)
    rows.push({ label: `$(warning) ${s.module}`, description: l10n.t('left out: {0}', s.reason) });
  const fused = r.conversions.filter((c) => c.kind === 'fuse').length;
  const split = r.conversions.length - fused;
  return {
    title: l10n.t(
      'Export for {0} ({1} naming): {2} modules, {3} fused, {4} split, {5} left out',
      baseName,
      r.naming,
      formatInt(r.modules.length),
      formatInt(fused),
      formatInt(split),
      formatInt(r.skipped.length),
    ),
    rows,
  };
}

/** A staging folder beside `destination`: the computation writes there, `commit` moves it in. */
export class Staging {
  private committed = false;

  private constructor(
    readonly folder: string,
    readonly destination: string,
    /** The first folder create() made for the destination, removed again if nothing is written. */
    private readonly created: string | undefined,
  ) {}

  static async create(destination: string): Promise<Staging> {
    // The destination's folder may be new (a PEFT adapter gets a folder of its own).
    const created = await mkdir(dirname(destination), { recursive: true });
    await removeStaleTemps(dirname(destination));
    const folder = claimTemp(destination);
    await mkdir(folder);
    return new Staging(folder, destination, created);
  }

  /** Where the computation writes its weights (its adapter_config.json lands beside). */
  get output(): string {
    return join(this.folder, basename(this.destination));
  }

  /**
   * Renames every staged file into the destination's folder (same file system: atomic each). A file
   * that would land on a source (an adapter_config.json beside the source adapter) is refused before
   * anything moves.
   */
  async commit(protect: readonly string[]): Promise<string[]> {
    // The weights move last: whoever sees them sees their adapter_config.json too.
    const weights = basename(this.destination);
    const names = (await readdir(this.folder)).sort(
      (a, b) => Number(a === weights) - Number(b === weights),
    );
    await refuseSources(
      names.map((n) => join(dirname(this.destination), n)),
      protect,
    );
    const moved: string[] = [];
    for (const name of names) {
      const to = join(dirname(this.destination), name);
      await rename(join(this.folder, name), to);
      moved.push(to);
    }
    this.committed = true;
    await this.discard();
    return moved;
  }

  async discard(): Promise<void> {
    await rm(this.folder, { recursive: true, force: true });
    releaseTemp(this.folder);
    // Only folders this staging made, and only when they stayed empty.
    if (!this.committed && this.created)
      for (const d of new Set([dirname(this.destination), this.created]))
        await rmdir(d).catch(() => undefined);
  }
}
