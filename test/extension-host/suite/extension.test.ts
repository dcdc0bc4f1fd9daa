// Runs INSIDE VS Code's extension host (code-server via the workbench `payload` parameter, or
// desktop VS Code via @vscode/test-electron), with the real `vscode` API.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { suite, suiteSetup, teardown, test } from 'mocha';
import * as vscode from 'vscode';

const EXTENSION_ID = 'lora-lens.lora-lens';
const VIEW_TYPE = 'loraLens.checkpoint';
// out/extension-host/suite/ -> repository root
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The tiny Llama sample: the workspace copy when the harness made one, else the repo's. */
function sampleUri(): vscode.Uri {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const candidate = vscode.Uri.joinPath(folder.uri, 'model.safetensors');
    if (candidate.scheme === 'file' && existsSync(candidate.fsPath)) return candidate;
  }
  return vscode.Uri.file(path.join(REPO_ROOT, 'samples', 'tiny-llama', 'model.safetensors'));
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

suite('LoRA Lens extension host', () => {
  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is installed`);
    await ext.activate();
  });

  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('the extension activates', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext?.isActive, 'extension is active');
    assert.equal(ext?.packageJSON.name, 'lora-lens');
  });

  test('its commands are registered', async () => {
    const all = new Set(await vscode.commands.getCommands(true));
    for (const id of ['loraLens.openWith', 'loraLens.copySummaryJson', 'loraLens.showLog']) {
      assert.ok(all.has(id), `command ${id} is registered`);
    }
  });

  test('vscode.openWith resolves the LoRA Lens custom editor for a sample', async () => {
    const uri = sampleUri();
    assert.ok(existsSync(uri.fsPath), `sample exists: ${uri.fsPath}`);
    await vscode.commands.executeCommand('vscode.openWith', uri, VIEW_TYPE);
    const input = await waitFor('the custom editor tab', () => {
      const tabInput = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return tabInput instanceof vscode.TabInputCustom ? tabInput : undefined;
    });
    assert.equal(input.viewType, VIEW_TYPE);
    assert.equal(input.uri.toString(), uri.toString());
  });

  test('a .safetensors file opens in the custom editor by default (vscode.open)', async () => {
    const uri = sampleUri();
    await vscode.commands.executeCommand('vscode.open', uri);
    const input = await waitFor('an editor tab', () => {
      const tabInput = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return tabInput ?? undefined;
    });
    assert.ok(input instanceof vscode.TabInputCustom, 'not the text editor');
    assert.equal(input.viewType, VIEW_TYPE);
  });

  test('loraLens.showLog runs', async () => {
    await vscode.commands.executeCommand('loraLens.showLog');
  });

  test('setting loraLens.maxNonFileReadBytes reads with its default', () => {
    const config = vscode.workspace.getConfiguration('loraLens');
    assert.equal(config.get<number>('maxNonFileReadBytes'), 268435456);
    assert.equal(config.inspect<number>('maxNonFileReadBytes')?.defaultValue, 268435456);
  });
});
