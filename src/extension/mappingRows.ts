/**
 * The Mapping tab's table, kept in the host: every row (mapped, unmatched, rejected), in the order the
 * user works through them (unmatched first, then the least sure), the filter and the selection. The
 * webview asks for the window it shows (`mappingRows`), so 100,000 modules cost only the rows on
 * screen. Any change of the rows or the filter bumps the version: pages of an older version are
 * dropped by the webview. Kept free of `vscode` (unit-tested and benchmarked in Node).
 */
import type { MappingRowDto, MappingTableDto, SharedPathDto } from '../shared/protocol.js';

const LEVEL_ORDER = { low: 1, medium: 2, high: 3 } as const;
const NOTHING: SharedPathDto = { prefix: '', suffix: '' };

const rank = (r: MappingRowDto) => (r.target === null ? 0 : LEVEL_ORDER[r.level]);

/**
 * Unmatched first, then the least sure: what needs a look comes first. Ties go by module name in
 * code-unit order (the same in every locale, and 100,000 rows sort in a fraction of a collator's time).
 */
export function mappingOrder(a: MappingRowDto, b: MappingRowDto): number {
  return (
    rank(a) - rank(b) ||
    a.confidence - b.confidence ||
    (a.module < b.module ? -1 : a.module > b.module ? 1 : 0)
  );
}

/**
 * What every path of a column shares, said once in its header: the dotted segments every path starts
 * with (never the last segment of any path: the leaf stays in the row), and `.weight` when every path
 * ends with it; nothing for fewer than two paths. The same rule as webview/ui/pathLabels.ts'
 * sharedParts, in one pass of native startsWith/endsWith (no split per path).
 */
export function sharedPathParts(paths: readonly string[]): SharedPathDto {
  return sharedOf(paths.length, (i) => paths[i] as string);
}

/** sharedPathParts over `count` paths read by index (null: a row without one, skipped). */
function sharedOf(count: number, path: (i: number) => string | null): SharedPathDto {
  // The longest dot-ended start of the first path that every path starts with: a dot inside what
  // all share is followed by more in every path, so no path's leaf is ever cut.
  let prefix: string | undefined;
  let n = 0;
  let allWeight = true;
  let shortest = Infinity;
  for (let k = 0; k < count; k++) {
    const p = path(k);
    if (p === null) continue;
    n++;
    if (prefix === undefined) prefix = p.slice(0, p.lastIndexOf('.') + 1);
    else
      while (prefix && !p.startsWith(prefix))
        prefix =
          prefix.length > 1 ? prefix.slice(0, prefix.lastIndexOf('.', prefix.length - 2) + 1) : '';
    if (allWeight && !p.endsWith('.weight')) allWeight = false;
    if (p.length < shortest) shortest = p.length;
    // Nothing shared and not all `.weight`: the rest cannot change the answer.
    if (n >= 2 && !prefix && !allWeight) return NOTHING;
  }
  if (n < 2 || prefix === undefined) return NOTHING;
  const suffix = allWeight && shortest > prefix.length + 7 ? '.weight' : '';
  return prefix || suffix ? { prefix, suffix } : NOTHING;
}

export class MappingTable {
  /** Every row, sorted. */
  private all: MappingRowDto[] = [];
  /** Lower-cased module and target of each sorted row, for the filter. */
  private keys: string[] = [];
  /** The paths the columns show, per sorted row (the shared parts are computed over these). */
  private modulePaths: string[] = [];
  private targetPaths: (string | null)[] = [];
  /** What all rows share (the unfiltered table's header), computed once per `replace`. */
  private sharedAll: MappingTableDto['shared'] | undefined;
  /** The query `shown` was filtered with (a longer query containing it filters only those rows). */
  private shownFor: string | undefined;
  /** Indices into `all` of the rows that pass the filter. */
  private shown: Int32Array = new Int32Array(0);
  private query = '';
  private selected = 0;
  private version = 0;
  private shared = { module: NOTHING, target: NOTHING };

  constructor(rows: readonly MappingRowDto[] = []) {
    this.replace(rows);
  }

  /** New rows (a remap, an override): the filter and the selection stay, clamped to what is left. */
  replace(rows: readonly MappingRowDto[]): MappingTableDto {
    this.all = [...rows].sort(mappingOrder);
    this.keys = this.all.map((r) => `${r.module}\u0000${r.target ?? ''}`.toLowerCase());
    this.modulePaths = this.all.map((r) => r.moduleTarget);
    this.targetPaths = this.all.map((r) => r.target);
    this.sharedAll = undefined;
    this.shownFor = undefined;
    this.refilter();
    return this.state();
  }

  setQuery(query: string): MappingTableDto {
    this.query = query;
    this.selected = 0;
    this.refilter();
    return this.state();
  }

  select(index: number): MappingTableDto {
    this.selected = Math.max(0, Math.min(index, this.shown.length - 1));
    return this.state();
  }

  /** A window of the filtered rows (clamped to what exists). */
  rows(
    start: number,
    count: number,
  ): { state: MappingTableDto; start: number; rows: MappingRowDto[] } {
    const from = Math.max(0, Math.min(start, this.shown.length));
    const to = Math.min(this.shown.length, from + Math.max(0, count));
    const rows: MappingRowDto[] = [];
    for (let i = from; i < to; i++) rows.push(this.all[this.shown[i] as number] as MappingRowDto);
    return { state: this.state(), start: from, rows };
  }

  /** Where a module is among the filtered rows, or -1. */
  indexOf(module: string): number {
    for (let i = 0; i < this.shown.length; i++)
      if (this.all[this.shown[i] as number]?.module === module) return i;
    return -1;
  }

  /** Every row, unfiltered, in display order (the smoke test's overrides, exports). */
  allRows(): readonly MappingRowDto[] {
    return this.all;
  }

  state(): MappingTableDto {
    return {
      version: this.version,
      rowCount: this.shown.length,
      total: this.all.length,
      query: this.query,
      selected: this.selected,
      shared: this.shared,
    };
  }

  private refilter(): void {
    this.version++;
    const q = this.query.toLowerCase();
    const keys = this.keys;
    let same = false;
    if (!q) {
      this.shown = new Int32Array(keys.length);
      for (let i = 0; i < keys.length; i++) this.shown[i] = i;
    } else {
      // Typing on narrows what the last keystroke kept: only those rows are looked at again.
      const from = this.shownFor !== undefined && q.includes(this.shownFor) ? this.shown : null;
      const count = from ? from.length : keys.length;
      const out = new Int32Array(count);
      let n = 0;
      // The NUL between module and target keeps a match from spanning both.
      for (let k = 0; k < count; k++) {
        const i = from ? (from[k] as number) : k;
        if ((keys[i] as string).includes(q)) out[n++] = i;
      }
      // Narrowed to the very rows it had: what they share has not changed either.
      same = from !== null && n === from.length;
      this.shown = out.slice(0, n);
    }
    this.shownFor = q;
    this.selected = Math.max(0, Math.min(this.selected, this.shown.length - 1));
    const shown = this.shown;
    const modules = this.modulePaths;
    const targets = this.targetPaths;
    const shared = () => ({
      module: sharedOf(shown.length, (k) => modules[shown[k] as number] as string),
      target: sharedOf(shown.length, (k) => targets[shown[k] as number] ?? null),
    });
    if (same) return;
    this.shared = shown.length === keys.length ? (this.sharedAll ??= shared()) : shared();
  }
}
