import * as vscode from 'vscode';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import type { Lease } from '../core/formats/checkpointPool.js';
import { sourceFiles } from '../core/export/sourceFiles.js';
import { CheckpointError, toCheckpointError } from '../core/formats/errors.js';
import {
  checkpointIdentity,
  loaderSnippet,
  toMappingFile,
  writeMappingFile,
  writeRemappedAdapter,
  type ExportNaming,
} from '../core/mapping/export/index.js';
import { mapAdapter } from '../core/mapping/index.js';
import { TensorTree } from '../core/view/tensorTree.js';
import { TreeViews } from '../core/view/treeViews.js';
import type { MappingOverride, MappingResult } from '../core/mapping/types.js';
import type { LoraAnalysis } from '../core/lora/types.js';
import {
  NO_MAPPING,
  NO_MAPPING_TABLE,
  type MappingRowDto,
  type MappingTableDto,
  type MappingViewDto,
} from '../shared/protocol.js';
import type { BaseModels } from './baseModels.js';
import { MappingTable } from './mappingRows.js';
import type { CheckpointDocument } from './checkpointDocument.js';
import { log } from './log.js';
import { highConfidence } from './settings.js';

const OVERRIDES_KEY = 'loraLens.overrides';
const UNUSED_SHOWN = 500;

/**
 * One adapter's mapping onto its base: the base it uses, the user's overrides (remembered per adapter and
 * base, winning over the matcher), and the matcher's result. Recomputed whenever one of them changes.
 */
export interface MappingState {
  readonly mapped: number;
  readonly total: number;
}

export class MappingSession {
  private base: { ref: string; checkpoint: Checkpoint } | undefined;
  /** This session's hold on `base` in BaseModels, released when it changes base or is disposed. */
  private lease: Lease<Checkpoint> | undefined;
  private disposed = false;
  private baseError: ReturnType<typeof toCheckpointError> | undefined;
  private result: MappingResult | undefined;
  /** The base model's tree for the Mapping tab, with mapped and unpatched parameters marked. */
  private baseViews: TreeViews | undefined;
  private readonly marks = new Map<string, 'mapped' | 'unused'>();
  /** Module facts the rows show beside the mapping. */
  private moduleInfo = new Map<string, { target: string; kind: string; rank: number | null }>();
  /** The Mapping tab's rows, built once per mapping result (a remap makes a new result). */
  private built: { of: MappingResult | undefined; rows: MappingRowDto[] } = {
    of: undefined,
    rows: [],
  };
  /** Each editor's table (its own filter and selection), and the result its rows came from. */
  private readonly tableSource = new WeakMap<MappingTable, MappingResult | undefined>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly document: CheckpointDocument,
    private readonly bases: BaseModels,
    private readonly state: vscode.Memento,
  ) {}

  /** Switches to a held base (or none), releasing the previous one. */
  private hold(lease: Lease<Checkpoint> | undefined): void {
    const previous = this.lease;
    this.lease = lease;
    this.base = lease ? { ref: lease.key, checkpoint: lease.value } : undefined;
    previous?.release();
  }

  private key(): string {
    return `${this.document.uri.toString()}|${this.base?.ref ?? ''}`;
  }

  private overrides(): MappingOverride[] {
    const all = this.state.get<Record<string, MappingOverride[]>>(OVERRIDES_KEY, {});
    return all[this.key()] ?? [];
  }

  private async saveOverrides(list: MappingOverride[]): Promise<void> {
    const all = { ...this.state.get<Record<string, MappingOverride[]>>(OVERRIDES_KEY, {}) };
    all[this.key()] = list;
    await this.state.update(OVERRIDES_KEY, all);
  }

  /** Loads the remembered base (once) and maps; cheap when nothing changed. */
  /**
   * `table`: the asking editor's Mapping table, whose state the answer carries (each editor of a
   * document has its own filter and selection over the same rows). Without one (commands), the
   * state only counts the rows.
   */
  async view(table?: MappingTable): Promise<MappingViewDto> {
    const ref = this.bases.baseFor(this.document.uri);
    if (ref && ref !== this.base?.ref && !this.baseError) await this.useBase(ref, false);
    return this.dto(table);
  }

  async choose(table?: MappingTable): Promise<MappingViewDto> {
    const ref = await this.bases.pick(this.document.uri);
    if (ref === '') {
      this.hold(undefined);
      this.result = undefined;
      this.baseError = undefined;
      this.changed.fire();
    } else if (ref !== undefined) await this.useBase(ref, true);
    return this.dto(table);
  }

  private async useBase(ref: string, remember: boolean): Promise<void> {
    this.baseError = undefined;
    try {
      const lease = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('LoRA Lens: reading the base model {0}', ref),
        },
        () => this.bases.acquire(ref),
      );
      if (this.disposed) {
        lease.release();
        return;
      }
      this.hold(lease);
      this.baseViews = undefined;
      if (remember) await this.bases.remember(this.document.uri, ref);
      await this.remap();
    } catch (e) {
      this.hold(undefined);
      this.result = undefined;
      this.baseError = toCheckpointError(e);
      log().warn(`base ${ref}: ${this.baseError.code}: ${this.baseError.message}`);
    }
    if (!this.disposed) this.changed.fire();
  }

  private async analysis(): Promise<{ analysis: LoraAnalysis; checkpoint: Checkpoint }> {
    const r = await this.document.result();
    if (!r.ok) throw r.error;
    return { analysis: r.analysis, checkpoint: r.checkpoint };
  }

  private async remap(): Promise<void> {
    if (!this.base) return;
    const { analysis, checkpoint } = await this.analysis();
    this.moduleInfo = new Map(
      analysis.modules.map((m) => [m.name, { target: m.target, kind: m.label, rank: m.rank }]),
    );
    const started = performance.now();
    this.result = mapAdapter({ analysis, info: checkpoint }, this.base.checkpoint, {
      overrides: this.overrides(),
      highConfidence: highConfidence(this.document.uri),
    });
    this.marks.clear();
    for (const n of this.result.unusedBase) this.marks.set(n, 'unused');
    for (const m of this.result.mappings) if (m.target !== null) this.marks.set(m.target, 'mapped');
    log().info(
      `mapped ${analysis.modules.length} modules onto ${this.base.ref} in ${(performance.now() - started).toFixed(0)} ms`,
    );
  }

  async setOverride(
    module: string,
    target: string | null,
    table?: MappingTable,
  ): Promise<MappingViewDto> {
    const list = this.overrides().filter((o) => o.module !== module);
    const entry = this.result?.mappings.find((m) => m.module === module);
    list.push(
      target !== null && entry?.target === target
        ? { module, target, slice: entry.slice, transposed: entry.transposed }
        : { module, target },
    );
    await this.saveOverrides(list);
    await this.remap();
    this.changed.fire();
    return this.dto(table);
  }

  async clearOverride(module: string, table?: MappingTable): Promise<MappingViewDto> {
    await this.saveOverrides(this.overrides().filter((o) => o.module !== module));
    await this.remap();
    this.changed.fire();
    return this.dto(table);
  }

  /** Alternatives first, then every base weight, in a quick pick. */
  async retarget(module: string, table?: MappingTable): Promise<MappingViewDto> {
    if (!this.base) return this.dto(table);
    const entry = this.result?.mappings.find((m) => m.module === module);
    type Item = vscode.QuickPickItem & { target: string | null };
    const alternatives: Item[] = (entry?.alternatives ?? []).map((a) => ({
      label: a.target,
      description: `${Math.round(a.confidence * 100)}%`,
      detail: a.reason,
      target: a.target,
    }));
    const weights: Item[] = this.base.checkpoint.tensors
      .filter((t) => t.shape.length >= 2 && !alternatives.some((a) => a.target === t.name))
      .map((t) => ({
        label: t.name,
        description: `[${t.shape.join(', ')}] ${t.dtype}`,
        target: t.name,
      }));
    const picked = await vscode.window.showQuickPick<Item>(
      [
        ...(alternatives.length
          ? [
              {
                label: vscode.l10n.t('Suggested'),
                kind: vscode.QuickPickItemKind.Separator,
                target: null,
              },
            ]
          : []),
        ...alternatives,
        {
          label: vscode.l10n.t('Base parameters'),
          kind: vscode.QuickPickItemKind.Separator,
          target: null,
        },
        ...weights,
        { label: `$(circle-slash) ${vscode.l10n.t('Map to nothing (reject)')}`, target: null },
      ],
      {
        title: vscode.l10n.t('Target for {0}', module),
        placeHolder: entry?.target ?? vscode.l10n.t('unmatched'),
        matchOnDescription: true,
        matchOnDetail: true,
      },
    );
    if (!picked) return this.dto(table);
    return this.setOverride(module, picked.target, table);
  }

  dto(table?: MappingTable): MappingViewDto {
    const base = this.base
      ? {
          ref: this.base.ref,
          label: this.base.ref.replace(/^.*[\\/](?=[^\\/]+[\\/]?$)/, ''),
          format: this.base.checkpoint.format,
          tensors: this.base.checkpoint.tensors.length,
        }
      : null;
    const r = this.result;
    const rows = this.allRows();
    const state: MappingTableDto = table
      ? this.synced(table).state()
      : { ...NO_MAPPING_TABLE, rowCount: rows.length, total: rows.length };
    if (!r)
      return {
        ...NO_MAPPING,
        base,
        table: state,
        ...(this.baseError ? { baseError: this.baseError.toJSON() } : {}),
      };
    const count = (level: string) =>
      r.mappings.filter((m) => m.target !== null && m.level === level).length;
    return {
      base,
      table: state,
      unmatchedAdapter: [...r.unmatchedAdapter],
      unusedBase: r.unusedBase.slice(0, UNUSED_SHOWN),
      unusedBaseCount: r.unusedBase.length,
      conflicts: r.conflicts.map((c) => ({ ...c })),
      counts: {
        mapped: r.mappings.filter((m) => m.target !== null).length,
        unmatched: r.unmatchedAdapter.length,
        high: count('high'),
        medium: count('medium'),
        low: count('low'),
        user: rows.filter((m) => m.source === 'user').length,
      },
    };
  }

  /** An editor's table, given the current rows when the mapping changed since it last had them. */
  private synced(table: MappingTable): MappingTable {
    if (!this.tableSource.has(table) || this.tableSource.get(table) !== this.result) {
      this.tableSource.set(table, this.result);
      table.replace(this.allRows());
    }
    return table;
  }

  /** A window of an editor's filtered rows. */
  tableRows(
    table: MappingTable,
    start: number,
    count: number,
  ): { state: MappingTableDto; start: number; rows: MappingRowDto[] } {
    return this.synced(table).rows(start, count);
  }

  setTableQuery(table: MappingTable, query: string): MappingTableDto {
    return this.synced(table).setQuery(query);
  }

  selectRow(table: MappingTable, index: number): MappingTableDto {
    return this.synced(table).select(index);
  }

  tableState(table: MappingTable): MappingTableDto {
    return this.synced(table).state();
  }

  /** Every row as the Mapping tab shows them, unsorted and unfiltered (the smoke test runs these). */
  allRows(): readonly MappingRowDto[] {
    if (this.built.of !== this.result)
      this.built = { of: this.result, rows: this.result ? this.buildRows(this.result) : [] };
    return this.built.rows;
  }

  private buildRows(r: MappingResult): MappingRowDto[] {
    const modules = this.moduleInfo;
    const rows: MappingRowDto[] = r.mappings.map((m) => ({
      module: m.module,
      moduleTarget: modules.get(m.module)?.target ?? m.module,
      kind: modules.get(m.module)?.kind ?? '',
      rank: modules.get(m.module)?.rank ?? null,
      target: m.target,
      confidence: m.confidence,
      level: m.level,
      reason: m.reason,
      shapeCheck: m.shapeCheck,
      transposed: m.transposed,
      slice: m.slice,
      source: m.source,
      alternatives: m.alternatives
        .slice(0, 5)
        .map((a) => ({ target: a.target, confidence: a.confidence, reason: a.reason })),
    }));
    // Rejected and unmatched modules are rows too: they are what the user has to look at.
    const rejected = new Set(
      this.overrides()
        .filter((o) => o.target === null)
        .map((o) => o.module),
    );
    const mapped = new Set(r.mappings.map((m) => m.module));
    for (const module of r.unmatchedAdapter) {
      if (mapped.has(module)) continue;
      const byUser = rejected.has(module);
      rows.push({
        module,
        moduleTarget: modules.get(module)?.target ?? module,
        kind: modules.get(module)?.kind ?? '',
        rank: modules.get(module)?.rank ?? null,
        target: null,
        confidence: 0,
        level: 'low',
        reason: byUser
          ? vscode.l10n.t('rejected by you')
          : vscode.l10n.t('no base parameter fits this module'),
        shapeCheck: 'unknown',
        transposed: false,
        slice: null,
        source: byUser ? 'user' : 'matcher',
        alternatives: [],
      });
    }
    return rows;
  }

  baseTree(): TreeViews {
    if (!this.base)
      throw new CheckpointError('InvalidExport', vscode.l10n.t('no base model selected'));
    this.baseViews ??= new TreeViews(
      new TensorTree(this.base.checkpoint.tensors, { marks: this.marks }),
      undefined,
    );
    return this.baseViews;
  }

  /** Whether there is a mapping to export. */
  get hasMapping(): boolean {
    return this.result !== undefined;
  }

  /** For the status bar: how many modules have a target, and how many do not. */
  get mappingState(): MappingState | undefined {
    const r = this.result;
    if (!r) return undefined;
    const mapped = r.mappings.filter((m) => m.target !== null).length;
    return { mapped, total: mapped + r.unmatchedAdapter.length };
  }

  private async ready(): Promise<{
    result: MappingResult;
    base: { ref: string; checkpoint: Checkpoint };
    analysis: LoraAnalysis;
    checkpoint: Checkpoint;
  }> {
    await this.view();
    if (!this.result || !this.base) {
      throw new CheckpointError(
        'InvalidExport',
        vscode.l10n.t(
          'no mapping yet: select a base model for this adapter first (LoRA Lens: Select Base Model…)',
        ),
      );
    }
    return { result: this.result, base: this.base, ...(await this.analysis()) };
  }

  private adapterPath(): string {
    return this.document.uri.scheme === 'file'
      ? this.document.uri.fsPath
      : this.document.uri.toString();
  }

  async exportMappingFile(out: string): Promise<void> {
    const { result, base, checkpoint } = await this.ready();
    const file = toMappingFile(
      result,
      await checkpointIdentity(checkpoint, this.adapterPath()),
      await checkpointIdentity(base.checkpoint, base.ref),
    );
    await writeMappingFile(out, file, {
      protect: await sourceFiles([this.adapterPath(), base.ref]),
    });
  }

  async exportRemapped(
    out: string,
    naming: ExportNaming,
  ): Promise<{ tensors: number; bytes: number; skipped: number; adapterConfig: string | null }> {
    const { result, base, analysis, checkpoint } = await this.ready();
    const r = await writeRemappedAdapter(checkpoint, base.checkpoint, analysis, result, {
      out,
      naming,
      sourcePaths: await sourceFiles([this.adapterPath(), base.ref]),
    });
    for (const w of r.warnings) log().warn(`export: ${w}`);
    return {
      tensors: r.tensors,
      bytes: r.bytes,
      skipped: r.skipped.length,
      adapterConfig: r.adapterConfigPath,
    };
  }

  async snippet(): Promise<string> {
    const { result, base, analysis } = await this.ready();
    return loaderSnippet(result, analysis, { adapterPath: this.adapterPath(), basePath: base.ref });
  }

  dispose(): void {
    this.disposed = true;
    this.hold(undefined);
    this.changed.dispose();
  }
}
