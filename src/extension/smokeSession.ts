import * as vscode from 'vscode';
import type {
  ErrorDto,
  SmokeEventDto,
  SmokeModuleDto,
  SmokeReportDto,
  SmokeViewDto,
} from '../shared/protocol.js';
import type { CheckpointDocument } from './checkpointDocument.js';
import { smokeKey, storeSmoke, type StoredSmoke } from './smokeLogic.js';

const REPORTS_KEY = 'loraLens.smokeReports';

/** Why "Run GPU Smoke Test" cannot start for this document now, or null when it can. */
export function smokeBlocked(document: CheckpointDocument, hasMapping: boolean): string | null {
  if (!vscode.workspace.isTrusted)
    return vscode.l10n.t('running models needs a trusted workspace (Restricted Mode is on)');
  if (document.uri.scheme !== 'file') return vscode.l10n.t('the adapter must be a local file');
  if (!hasMapping)
    return vscode.l10n.t('select a base model first: the test runs the adapter mapped onto it');
  return null;
}

interface Running {
  readonly base: string;
  readonly abort: AbortController;
  readonly rows: SmokeModuleDto[];
  total: number;
  message: string;
}

/**
 * The smoke runs of the open adapters: the one in progress (its streamed rows, its Cancel), the last
 * failure, and the last report per adapter and base, remembered in the workspace so the Smoke tab
 * shows it after a restart.
 */
export class SmokeRuns implements vscode.Disposable {
  private readonly running = new WeakMap<CheckpointDocument, Running>();
  private readonly failures = new WeakMap<CheckpointDocument, ErrorDto>();
  private readonly changed = new vscode.EventEmitter<{
    document: CheckpointDocument;
    reveal: boolean;
  }>();
  private readonly progressed = new vscode.EventEmitter<{
    document: CheckpointDocument;
    event: SmokeEventDto;
  }>();
  /** A run started or ended (reveal: show the Smoke tab). */
  readonly onDidChange = this.changed.event;
  readonly onEvent = this.progressed.event;

  constructor(private readonly state: vscode.Memento) {}

  isRunning(document: CheckpointDocument): boolean {
    return this.running.has(document);
  }

  /** Marks a run as started; undefined when one is already running for this document. */
  start(document: CheckpointDocument, base: string): AbortController | undefined {
    if (this.running.has(document)) return undefined;
    const abort = new AbortController();
    this.running.set(document, {
      base,
      abort,
      rows: [],
      total: 0,
      message: vscode.l10n.t('starting…'),
    });
    this.failures.delete(document);
    this.changed.fire({ document, reveal: true });
    return abort;
  }

  cancel(document: CheckpointDocument): void {
    this.running.get(document)?.abort.abort();
  }

  event(document: CheckpointDocument, event: SmokeEventDto, message: string): void {
    const run = this.running.get(document);
    if (!run) return;
    run.message = message;
    if (event.type === 'module') {
      run.rows.push(event.result);
      run.total = event.total;
    }
    this.progressed.fire({ document, event });
  }

  async finish(document: CheckpointDocument, report: SmokeReportDto): Promise<void> {
    const run = this.running.get(document);
    this.running.delete(document);
    if (run) {
      const entry: StoredSmoke = { report, at: Date.now(), base: run.base };
      const all = this.state.get<Record<string, StoredSmoke>>(REPORTS_KEY, {});
      await this.state.update(
        REPORTS_KEY,
        storeSmoke(all, smokeKey(document.uri.toString(), run.base), entry),
      );
    }
    this.changed.fire({ document, reveal: true });
  }

  /** The run ended without a report; `error` is null when the user cancelled it. */
  fail(document: CheckpointDocument, error: ErrorDto | null): void {
    this.running.delete(document);
    if (error) this.failures.set(document, error);
    this.changed.fire({ document, reveal: error !== null });
  }

  /** Tells the editors to refresh (trust granted, base changed). */
  refresh(document: CheckpointDocument): void {
    this.changed.fire({ document, reveal: false });
  }

  view(
    document: CheckpointDocument,
    base: string | undefined,
    blocked: string | null,
  ): SmokeViewDto {
    const run = this.running.get(document);
    const all = this.state.get<Record<string, StoredSmoke>>(REPORTS_KEY, {});
    const last = base !== undefined ? all[smokeKey(document.uri.toString(), base)] : undefined;
    return {
      blocked,
      running: run !== undefined,
      live: run ? { rows: [...run.rows], total: run.total, message: run.message } : null,
      last: last ?? null,
      error: this.failures.get(document) ?? null,
    };
  }

  dispose(): void {
    this.changed.dispose();
    this.progressed.dispose();
  }
}
