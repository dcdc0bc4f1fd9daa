import type { TensorInfo } from '../formats/checkpoint.js';
import { tensorModuleMap } from '../lora/index.js';
import type { LoraAnalysis } from '../lora/types.js';
import { TensorTree, type TreeRow, type TreeState } from './tensorTree.js';

export type ViewGrouping = 'tree' | 'flat' | 'module';

const NOT_LORA = '(not LoRA)';

export type ViewState = Omit<TreeState, 'grouping'> & { readonly grouping: ViewGrouping };

function fmt(n: number | null): string {
  return n === null
    ? '?'
    : Number.isInteger(n)
      ? String(n)
      : n.toPrecision(4).replace(/\.?0+$/, '');
}

/**
 * A tree with one group per LoRA module (A, B, alpha, magnitude together, whatever the family's naming),
 * and one group for everything that is not a LoRA weight.
 */
export function moduleTree(tensors: readonly TensorInfo[], analysis: LoraAnalysis): TensorTree {
  const moduleOf = tensorModuleMap(analysis);
  const notes = new Map<string, string>();
  for (const m of analysis.modules) {
    notes.set(m.name, `${m.label} · r ${fmt(m.rank)} · α ${fmt(m.alpha)} · scale ${fmt(m.scale)}`);
  }
  notes.set(NOT_LORA, 'optimizer state, full weights, …');
  return new TensorTree(tensors, {
    segments: (t) => {
      const m = moduleOf.get(t.name);
      if (m === undefined) return [NOT_LORA, t.name];
      const rest = t.name.startsWith(`${m}.`) ? t.name.slice(m.length + 1) : t.name;
      return [m, rest];
    },
    groupNotes: notes,
  });
}

/**
 * The three ways the editor lists tensors: by module path, as raw keys, and by LoRA module. Switching
 * keeps the filter.
 */
export class TreeViews {
  private grouping: ViewGrouping = 'tree';
  private moduleView: TensorTree | undefined;

  constructor(
    private readonly byPath: TensorTree,
    /** Makes the by-module tree, on the first switch to it (most users never do). */
    private readonly makeByModule: (() => TensorTree) | undefined,
  ) {}

  get hasModules(): boolean {
    return this.makeByModule !== undefined;
  }

  private get byModule(): TensorTree | undefined {
    return this.makeByModule ? (this.moduleView ??= this.makeByModule()) : undefined;
  }

  private get current(): TensorTree {
    return this.grouping === 'module' && this.hasModules
      ? (this.byModule as TensorTree)
      : this.byPath;
  }

  state(): ViewState {
    return { ...this.current.state(), grouping: this.grouping };
  }

  setGrouping(grouping: ViewGrouping): ViewState {
    const query = this.current.state().query;
    if (grouping === 'module' && !this.hasModules) return this.state();
    this.grouping = grouping;
    if (grouping !== 'module') this.byPath.setGrouping(grouping);
    this.current.setQuery(query);
    return this.state();
  }

  setQuery(query: string) {
    this.current.setQuery(query);
    return this.state();
  }
  setExpanded(id: number, open?: boolean) {
    this.current.setExpanded(id, open);
    return this.state();
  }
  expandAll() {
    this.current.expandAll();
    return this.state();
  }
  collapseAll() {
    this.current.collapseAll();
    return this.state();
  }
  rows(start: number, count: number): TreeRow[] {
    return this.current.rows(start, count);
  }
  reveal(path: string): number {
    return this.current.reveal(path);
  }
}
