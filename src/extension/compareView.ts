/**
 * "LoRA Lens: Compare With…": two checkpoints side by side in a panel of their own. The comparison
 * runs in the host (header-only; norms on request), the panel pages its lists through the shared
 * protocol (compareReady / compareRows / compareNorms).
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { diffCheckpoints } from '../core/compare/index.js';
import type { DiffReport } from '../core/compare/types.js';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { toCheckpointError } from '../core/formats/errors.js';
import { openPath } from '../core/formats/index.js';
import {
  compareSections,
  differenceLines,
  sectionRows,
  type CompareSection,
} from './compareRows.js';
import type { CompareReadyResult, CompareSummaryDto } from '../shared/compareProtocol.js';
import { HostEndpoint, type CompareMethod, type Message } from '../shared/protocol.js';
import { checkpointFilters } from './fileFilters.js';
import { log } from './log.js';
import { editorHtml, webviewOptions } from './webviewHtml.js';

/** Which two files: the explorer's two selected files, or the one given and one picked. */
async function pickPair(arg: unknown, selected: unknown): Promise<[vscode.Uri, vscode.Uri] | null> {
  const uris = Array.isArray(selected)
    ? selected.filter((u): u is vscode.Uri => u instanceof vscode.Uri)
    : [];
  if (uris.length === 2) return [uris[0] as vscode.Uri, uris[1] as vscode.Uri];
  const first =
    (arg instanceof vscode.Uri ? arg : undefined) ??
    activeCheckpointUri() ??
    (
      await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: checkpointFilters(true),
        title: vscode.l10n.t('The first checkpoint to compare (A)'),
      })
    )?.[0];
  if (!first) return null;
  const second = (
    await vscode.window.showOpenDialog({
      canSelectMany: false,
      filters: checkpointFilters(true),
      defaultUri: vscode.Uri.joinPath(first, '..'),
      title: vscode.l10n.t('Compare {0} with…', basename(first.fsPath)),
    })
  )?.[0];
  return second ? [first, second] : null;
}

function activeCheckpointUri(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText
    ? input.uri
    : undefined;
}

/** One open Compare panel: its two checkpoints, the last report and its tables. */
class Comparison {
  private report: DiffReport | null = null;
  private sections: CompareSection[] = [];
  private ms = 0;

  constructor(
    private readonly a: string,
    private readonly b: string,
  ) {}

  async run(norms: boolean): Promise<CompareSummaryDto> {
    const started = performance.now();
    const opened: Checkpoint[] = [];
    try {
      for (const p of [this.a, this.b]) opened.push(await openPath(p));
      const [ca, cb] = opened as [Checkpoint, Checkpoint];
      this.report = await diffCheckpoints(
        { path: this.a, checkpoint: ca },
        { path: this.b, checkpoint: cb },
        { norms },
      );
    } finally {
      for (const c of opened) await c.close();
    }
    this.sections = compareSections(this.report);
    this.ms = performance.now() - started;
    log().info(
      `compare: ${this.a} ↔ ${this.b}: ${this.report.differ ? this.report.differences.join(', ') : 'same'} (${this.ms.toFixed(0)} ms${norms ? ', with norms' : ''})`,
    );
    return this.summary();
  }

  summary(): CompareSummaryDto {
    const r = this.report as DiffReport;
    const side = (s: DiffReport['a']) => ({
      name: basename(s.path),
      path: s.path,
      format: s.format,
      tensors: s.tensors,
      family: s.family,
      modules: s.modules,
    });
    return {
      a: side(r.a),
      b: side(r.b),
      differ: r.differ,
      differences: differenceLines(r),
      same: r.keys.same,
      sections: this.sections.map((s) => ({
        id: s.id,
        label: s.label,
        columns: s.columns,
        count: s.count,
      })),
      normsComputed: r.norms !== null,
      canComputeNorms: r.adapters !== null,
      notes: [...(r.adapters?.notes ?? []), ...(r.norms?.note ? [r.norms.note] : [])],
      ms: this.ms,
    };
  }

  rows(section: string, start: number, count: number): string[][] {
    const s = this.sections.find((x) => x.id === section);
    if (!s)
      throw Object.assign(new Error(vscode.l10n.t('this comparison has no list "{0}"', section)), {
        code: 'InvalidMessage',
      });
    return sectionRows(s, start, count);
  }
}

export async function openComparison(
  extensionUri: vscode.Uri,
  arg: unknown,
  selected: unknown,
): Promise<void> {
  const pair = await pickPair(arg, selected);
  if (!pair) return;
  const [a, b] = pair;
  const title = vscode.l10n.t('{0} ↔ {1}', basename(a.fsPath), basename(b.fsPath));
  const panel = vscode.window.createWebviewPanel(
    'loraLens.compare',
    title,
    vscode.ViewColumn.Active,
    { ...webviewOptions(extensionUri), retainContextWhenHidden: false },
  );
  panel.webview.html = editorHtml(panel.webview, extensionUri, title, 'compare.js');
  const comparison = new Comparison(a.fsPath, b.fsPath);
  const post = (m: Message) => void panel.webview.postMessage(m);
  const endpoint = new HostEndpoint<CompareMethod>(post, {
    compareReady: async (): Promise<CompareReadyResult> => {
      try {
        return { ok: true, summary: await comparison.run(false) };
      } catch (e) {
        const err = toCheckpointError(e);
        log().error(`compare: ${err.code}: ${err.message}`);
        return { ok: false, error: { code: err.code, message: err.message } };
      }
    },
    compareRows: ({ section, start, count }) => ({
      section,
      start,
      rows: comparison.rows(section, start, count),
    }),
    compareNorms: async () =>
      await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('LoRA Lens: computing ‖ΔW_A − ΔW_B‖ for {0}', title),
        },
        () => comparison.run(true),
      ),
  });
  endpoint.onInvalid = (reason) => log().warn(`compare view message refused: ${reason}`);
  const sub = panel.webview.onDidReceiveMessage((m) => endpoint.receive(m));
  panel.onDidDispose(() => sub.dispose());
}
