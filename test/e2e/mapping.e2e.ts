// Map an adapter onto its base: the base comes from the loraLens.baseModel setting, the Mapping tab lists
// every module with its target, and the user's decisions (reject, re-target) win and persist.
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { byTestId, expectState, showTab } from './editor';
import { sample, scenario, startSession, TIMEOUT, waitFor, type Session } from './harness';

describe('mapping an adapter onto its base model', () => {
  let session: Session | undefined;
  const s = () => session;

  before(
    async () => {
      session = await startSession({
        name: 'mapping',
        settings: { 'loraLens.baseModel': 'tiny-llama' },
        files: {
          'tiny-llama/model.safetensors': { copyFrom: sample('tiny-llama', 'model.safetensors') },
          'tiny-llama/config.json': { copyFrom: sample('tiny-llama', 'config.json') },
          'tiny-llama-lora/adapter_model.safetensors': {
            copyFrom: sample('tiny-llama-lora', 'adapter_model.safetensors'),
          },
          'tiny-llama-lora/adapter_config.json': {
            copyFrom: sample('tiny-llama-lora', 'adapter_config.json'),
          },
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario('every module maps onto the base with high confidence', s, async (s) => {
    await s.openFromExplorer('tiny-llama-lora/adapter_model.safetensors');
    const app = await s.editorFrame('adapter_model.safetensors');
    await expectState(s, app, 'ready');
    await showTab(app, 'mapping');
    const counts = byTestId(app, 'mapping-counts');
    await counts.waitFor({ timeout: TIMEOUT.editor });
    assert.equal(await counts.getAttribute('data-mapped'), '8');
    assert.equal(await counts.getAttribute('data-unmatched'), '0');
    assert.equal(await counts.getAttribute('data-high'), '8');
    // The status bar carries the mapping state while the editor is active.
    await s.page
      .locator('.statusbar-item', { hasText: '8/8 mapped' })
      .waitFor({ timeout: TIMEOUT.ui });
    const q = app.locator(
      '[data-testid=mapping-row][data-module="base_model.model.model.layers.0.self_attn.q_proj"]',
    );
    assert.equal(await q.getAttribute('data-target'), 'model.layers.0.self_attn.q_proj.weight');
    // Side by side: selecting a module reveals its target in the base tree, highlighted as mapped.
    await q.click();
    const target = app.locator(
      '[data-testid=base-tree] [data-testid=tree-row][data-path="model.layers.0.self_attn.q_proj.weight"]',
    );
    await target.waitFor({ timeout: TIMEOUT.ui });
    assert.equal(await target.getAttribute('data-mark'), 'mapped');
    await s.screenshot('mapping', ['light', 'dark', 'hc-dark', 'hc-light']);
  });

  scenario('rejecting and re-targeting a module wins over the matcher', s, async (s) => {
    const app = await s.editorFrame('adapter_model.safetensors');
    const row = (module: string) =>
      app.locator(`[data-testid=mapping-row][data-module="${module}"]`);
    const v0 = 'base_model.model.model.layers.0.self_attn.v_proj';
    await row(v0).getByTestId('reject').click();
    await waitFor(
      'the rejection',
      async () => (await row(v0).getAttribute('data-target')) === '' || undefined,
      TIMEOUT.ui,
    );
    assert.equal(await row(v0).getAttribute('data-source'), 'user');
    assert.equal(await byTestId(app, 'mapping-counts').getAttribute('data-unmatched'), '1');

    // Re-target through the host's quick pick, as a user would.
    await row(v0).getByTestId('retarget').click();
    const input = s.page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: TIMEOUT.ui });
    await input.fill('model.layers.0.self_attn.v_proj.weight');
    await s.page.keyboard.press('Enter');
    await waitFor(
      'the new target',
      async () =>
        (await row(v0).getAttribute('data-target')) === 'model.layers.0.self_attn.v_proj.weight' ||
        undefined,
      TIMEOUT.ui,
    );
    assert.equal(await row(v0).getAttribute('data-source'), 'user');
    await s.screenshot('mapping-override');
  });

  scenario('the mapping and the remapped adapter are exported from the palette', s, async (s) => {
    const app = await s.editorFrame('adapter_model.safetensors');
    await byTestId(app, 'mapping-counts').waitFor({ timeout: TIMEOUT.ui });
    // The save dialog proposes a path beside the adapter; Enter accepts it, as a user would.
    const acceptSaveDialog = async () => {
      const input = s.page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: TIMEOUT.ui });
      await s.page.keyboard.press('Enter');
    };
    await s.runCommand('LoRA Lens: Export Key Mapping…');
    await acceptSaveDialog();
    const mappingFile = path.join(s.workspace, 'tiny-llama-lora', 'adapter_model.mapping.json');
    await waitFor('the mapping file', async () => existsSync(mappingFile) || undefined, TIMEOUT.ui);
    const file = JSON.parse(readFileSync(mappingFile, 'utf8'));
    assert.equal(file.version, 1);
    assert.equal(file.mappings.length, 8);
    assert.ok(
      file.mappings.some((m: { source: string }) => m.source === 'user'),
      'the override is kept',
    );

    await s.runCommand('LoRA Lens: Export Remapped Adapter…');
    const naming = s.page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'kohya' })
      .first();
    await naming.waitFor({ timeout: TIMEOUT.ui });
    await naming.click();
    await acceptSaveDialog();
    const remapped = path.join(s.workspace, 'tiny-llama-lora', 'adapter_model.kohya.safetensors');
    await waitFor(
      'the remapped adapter',
      async () => existsSync(remapped) || undefined,
      TIMEOUT.ui,
    );
    const bytes = readFileSync(remapped);
    const header = bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8');
    assert.match(header, /lora_unet_model_layers_0_self_attn_q_proj\.lora_down\.weight/);
  });
});
