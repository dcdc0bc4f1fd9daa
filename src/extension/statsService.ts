import { stat } from 'node:fs/promises';
import * as vscode from 'vscode';
import { CheckpointError } from '../core/formats/errors.js';
import { computeAllStats, fileKey, StatsCache } from '../core/lora/stats/index.js';
import { statsDto } from '../core/lora/statsSummary.js';
import type { StatsDto } from '../shared/protocol.js';
import type { CheckpointDocument } from './checkpointDocument.js';
import { log } from './log.js';

/**
 * Per-module statistics on demand: streams each module's tensors once, behind a progress notification
 * with Cancel, and remembers the results per file (path, size, mtime) across sessions.
 */
export class StatsService {
  private readonly cache: StatsCache;
  private loaded: Promise<void> | undefined;

  constructor(storage: vscode.Uri) {
    const file = vscode.Uri.joinPath(storage, 'stats-cache.json');
    this.cache = new StatsCache({
      persistence: {
        load: async () => {
          try {
            return JSON.parse(
              new TextDecoder().decode(await vscode.workspace.fs.readFile(file)),
            ) as unknown;
          } catch {
            return undefined;
          }
        },
        save: async (data) => {
          await vscode.workspace.fs.createDirectory(storage);
          await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(JSON.stringify(data)));
        },
      },
    });
  }

  async compute(document: CheckpointDocument): Promise<StatsDto> {
    const r = await document.result();
    if (!r.ok) throw r.error;
    if (r.analysis.modules.length === 0)
      throw new CheckpointError(
        'InvalidExport',
        vscode.l10n.t('this file has no LoRA modules to measure'),
      );
    this.loaded ??= this.cache.load().then(() => undefined);
    await this.loaded;
    const identity = document.uri.scheme === 'file' ? await stat(document.uri.fsPath) : undefined;
    const file = identity
      ? fileKey({ path: document.uri.fsPath, size: identity.size, mtimeMs: identity.mtimeMs })
      : fileKey(document.uri.toString());
    const started = performance.now();
    const stats = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('LoRA Lens: statistics of {0}', document.fileName),
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        const total = r.analysis.modules.length;
        let last = 0;
        return computeAllStats(r.checkpoint, r.analysis, {
          cache: { cache: this.cache, file },
          signal: abort.signal,
          concurrency: 2,
          onProgress: (p) => {
            const done = p.done;
            progress.report({
              message: vscode.l10n.t('{0} / {1} modules', done, total),
              increment: ((done - last) / total) * 100,
            });
            last = done;
          },
        });
      },
    );
    const ms = performance.now() - started;
    log().info(`stats of ${document.fileName}: ${stats.length} modules in ${ms.toFixed(0)} ms`);
    void Promise.resolve(this.cache.save()).catch((e: unknown) =>
      log().warn(`stats cache not saved: ${String(e)}`),
    );
    return statsDto(stats, r.analysis, ms);
  }
}
