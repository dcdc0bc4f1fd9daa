// The soak (npm run bench:soak): N adapters opened in the LoRA Lens editor, mapped onto a base and
// smoke-tested one after another in ONE extension host, with the host's memory and handles sampled
// as it goes. Skipped unless LORA_LENS_SOAK=N is set (the bench sets it; the e2e run does not).
import * as assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite, test } from 'mocha';
import * as vscode from 'vscode';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const COUNT = Number(process.env['LORA_LENS_SOAK'] ?? 0);
const EVERY = Number(process.env['LORA_LENS_SOAK_EVERY'] ?? 100);

export interface SoakSample {
  readonly adapters: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  /** Active handles and requests by type (process.getActiveResourcesInfo). */
  readonly resources: Record<string, number>;
  /** Open file descriptors of the extension host (Linux /proc/self/fd). */
  readonly fds: number | null;
}

export interface SoakResult {
  readonly count: number;
  readonly passed: number;
  readonly failed: readonly string[];
  readonly samples: readonly SoakSample[];
  readonly ms: number;
}

function fdCount(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

async function sample(adapters: number): Promise<SoakSample> {
  // Let closed editors, finished children and their streams settle before reading.
  await new Promise((r) => setTimeout(r, 1500));
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const m = process.memoryUsage();
  return {
    adapters,
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    resources,
    fds: fdCount(),
  };
}

suite('soak', function () {
  test(`open, map and smoke-test ${COUNT} adapters in one extension host`, async function () {
    if (!COUNT) return this.skip();
    this.timeout(COUNT * 20_000 + 120_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'lora-lens-soak-'));
    const adapter = path.join(REPO_ROOT, 'samples', 'tiny-llama-lora');
    const base = path.join(REPO_ROOT, 'samples', 'tiny-llama');
    await vscode.workspace
      .getConfiguration('loraLens')
      .update('baseModel', base, vscode.ConfigurationTarget.Global);
    const started = Date.now();
    const samples: SoakSample[] = [await sample(0)];
    const failed: string[] = [];
    let passed = 0;
    try {
      for (let i = 1; i <= COUNT; i++) {
        // A fresh folder each time: a new document, a new mapping, no cache hit on the path.
        const folder = path.join(dir, `adapter-${String(i).padStart(4, '0')}`);
        mkdirSync(folder);
        for (const f of ['adapter_model.safetensors', 'adapter_config.json'])
          copyFileSync(path.join(adapter, f), path.join(folder, f));
        const uri = vscode.Uri.file(path.join(folder, 'adapter_model.safetensors'));
        await vscode.commands.executeCommand('vscode.openWith', uri, 'loraLens.checkpoint');
        const level = await vscode.commands.executeCommand<string | undefined>(
          'loraLens.runSmokeTest',
          uri,
        );
        if (level === 'pass') passed++;
        else failed.push(`${folder}: ${level ?? 'did not run'}`);
        await vscode.commands.executeCommand('workbench.action.closeAllEditors');
        rmSync(folder, { recursive: true, force: true });
        if (i % EVERY === 0 || i === COUNT) samples.push(await sample(i));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await vscode.workspace
        .getConfiguration('loraLens')
        .update('baseModel', undefined, vscode.ConfigurationTarget.Global);
    }
    const result: SoakResult = { count: COUNT, passed, failed, samples, ms: Date.now() - started };
    const out = process.env['LORA_LENS_SOAK_RESULT'];
    if (out) {
      writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 2));
      renameSync(`${out}.tmp`, out);
    }
    assert.deepEqual(failed.slice(0, 5), []);
  });
});
