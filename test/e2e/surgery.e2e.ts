// Resize an adapter from the editor as a user does: "Resize Adapter…" from the palette, a rank, the
// per-module report before anything is written, "Write", then the smoke test on the result in one
// click (it keeps the source's base model).
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { expectState } from './editor';
import { sample, scenario, startSession, TIMEOUT, waitFor, type Session } from './harness';

const CONVERT = path.join(__dirname, '../fixtures/convert');

/**
 * The conversion fixture's config without its down_proj alpha of 16: on random B factors that scale
 * makes the module's delta 16× its base output, which the smoke test rightly fails as a wrong scale.
 * Every other per-module rank and alpha stays, so the export still carries mixed ranks and scales.
 */
function plausibleScales(): string {
  const config = JSON.parse(
    readFileSync(path.join(CONVERT, 'llama_lora', 'adapter_config.json'), 'utf8'),
  ) as { alpha_pattern: Record<string, number> };
  delete config.alpha_pattern['model.layers.1.mlp.down_proj'];
  return JSON.stringify(config, null, 2);
}

/** The "wrote …" notification: shown once the staged files are in place and the staging folder is gone. */
async function wroteNotice(s: Session): Promise<void> {
  await s.page
    .locator('.notifications-toasts', { hasText: /LoRA Lens: wrote adapter_model\.safetensors/ })
    .first()
    .waitFor({ timeout: TIMEOUT.editor });
}

describe('adapter surgery from the editor', () => {
  let session: Session | undefined;
  const s = () => session;

  before(
    async () => {
      session = await startSession({
        name: 'surgery',
        settings: {
          'loraLens.baseModel': 'tiny-llama',
          'loraLens.smokeTest.timeoutSeconds': 240,
        },
        files: {
          'tiny-llama/model.safetensors': { copyFrom: sample('tiny-llama', 'model.safetensors') },
          'tiny-llama/config.json': { copyFrom: sample('tiny-llama', 'config.json') },
          'tiny-llama-lora/adapter_model.safetensors': {
            copyFrom: sample('tiny-llama-lora', 'adapter_model.safetensors'),
          },
          'tiny-llama-lora/adapter_config.json': {
            copyFrom: sample('tiny-llama-lora', 'adapter_config.json'),
          },
          // A Llama-shaped LoRA and a Phi-3-shaped model of the same size (fused qkv_proj, gate_up_proj).
          ...Object.fromEntries(
            [
              'llama/model.safetensors',
              'llama/config.json',
              'llama_lora/adapter_model.safetensors',
              'phi3/model.safetensors',
              'phi3/config.json',
            ].map((f) => [`convert/${f}`, { copyFrom: path.join(CONVERT, f) }]),
          ),
          'convert/llama_lora/adapter_config.json': plausibleScales(),
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario(
    'Resize Adapter…: the report first, then the write, then the smoke test on the result',
    s,
    async (s) => {
      await s.openFromExplorer('tiny-llama-lora/adapter_model.safetensors');
      const app = await s.editorFrame('adapter_model.safetensors');
      await expectState(s, app, 'ready');
      await s.runCommand('LoRA Lens: Resize Adapter…');
      const row = (text: string | RegExp) =>
        s.page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
      await row('To a rank').click({ timeout: TIMEOUT.ui });
      const input = s.page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: TIMEOUT.ui });
      await input.fill('2');
      await s.page.keyboard.press('Enter');
      await row('Keep the source dtype').click({ timeout: TIMEOUT.ui });
      // The save dialog proposes a folder of its own beside the source; Enter accepts it.
      await input.waitFor({ timeout: TIMEOUT.ui });
      await s.page.keyboard.press('Enter');
      // The simple save dialog asks before it creates that folder.
      const create = s.page.locator('.quick-input-widget', { hasText: /does not exist/ });
      await create.waitFor({ timeout: TIMEOUT.ui });
      await s.page.keyboard.press('Enter');

      // The report: one row per module with its rank change, and nothing written yet.
      const write = row(/Write adapter_model\.safetensors/);
      await write.waitFor({ timeout: TIMEOUT.editor });
      const out = path.join(s.workspace, 'tiny-llama-lora-r2');
      const title = await s.page.locator('.quick-input-widget .quick-input-title').textContent();
      assert.match(title ?? '', /Resize 8 modules: rank 64 → 16/);
      assert.ok(await row(/rank 8 → 2/).isVisible());
      assert.ok(
        !existsSync(path.join(out, 'adapter_model.safetensors')),
        'nothing is written before "Write"',
      );
      // The theme switch goes through the palette, which would close this list: the current theme only.
      await s.screenshotOnce('resize-report');
      await write.click();

      // "wrote" is shown once the staged files are in place and the staging folder is gone.
      await wroteNotice(s);
      assert.ok(existsSync(path.join(out, 'adapter_model.safetensors')), 'the resized adapter');
      assert.deepEqual(readdirSync(out).sort(), [
        'adapter_config.json',
        'adapter_model.safetensors',
      ]);
      assert.deepEqual(
        readdirSync(path.join(s.workspace, 'tiny-llama-lora')).sort(),
        ['adapter_config.json', 'adapter_model.safetensors'],
        'the source folder is untouched, with no debris',
      );

      // One click from the notification: the result opens and its smoke test runs on the same base.
      const smoke = s.page
        .locator('.notifications-toasts .monaco-button', { hasText: 'Run Smoke Test' })
        .first();
      await smoke.click({ timeout: TIMEOUT.ui });
      await s.page
        .locator('.notifications-toasts', { hasText: /LoRA Lens: 8\/8 modules pass on/ })
        .first()
        .waitFor({ timeout: 240_000 });
    },
    420_000,
  );

  scenario(
    'Export For Architecture…: a Llama LoRA onto a Phi-3 model, fused exactly, then smoke-tested',
    s,
    async (s) => {
      // A toast left by the scenario before must not answer for this one.
      await s.runCommand('Notifications: Clear All Notifications');
      // The scenario before left adapters of the same name open: this one must be the only editor.
      await s.runCommand('View: Close All Editors');
      await s.page
        .locator('.quick-input-widget')
        .waitFor({ state: 'hidden', timeout: TIMEOUT.ui })
        .catch(() => undefined);
      await s.quickOpen('convert/llama_lora/adapter_model.safetensors');
      await s.page
        .locator('.editor-group-container.active .breadcrumbs-control', { hasText: 'llama_lora' })
        .first()
        .waitFor({ timeout: TIMEOUT.editor });
      const app = await s.editorFrame('adapter_model.safetensors');
      await expectState(s, app, 'ready');
      await s.runCommand('LoRA Lens: Export For Architecture…');
      const row = (text: string | RegExp) =>
        s.page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
      await row('Choose a model folder').click({ timeout: TIMEOUT.ui });
      // The simple open dialog: type the folder and accept it.
      const input = s.page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: TIMEOUT.ui });
      // It fills in the adapter's folder first; typing before that would be overwritten.
      await waitFor(
        'the open dialog',
        async () => ((await input.inputValue()).includes('llama_lora') ? true : undefined),
        TIMEOUT.ui,
      );
      const phi3 = path.join(s.workspace, 'convert', 'phi3');
      await input.fill(phi3);
      await waitFor(
        'the typed folder',
        async () => ((await input.inputValue()) === phi3 ? true : undefined),
        TIMEOUT.ui,
      );
      await s.page.locator('.quick-input-widget .monaco-button', { hasText: 'OK' }).click();
      await row(/^peft/).click({ timeout: TIMEOUT.ui });
      await input.waitFor({ timeout: TIMEOUT.ui });
      await s.page.keyboard.press('Enter');
      const create = s.page.locator('.quick-input-widget', { hasText: /does not exist/ });
      await create.waitFor({ timeout: TIMEOUT.ui });
      await s.page.keyboard.press('Enter');

      const write = row(/Write adapter_model\.safetensors/);
      await write.waitFor({ timeout: TIMEOUT.editor });
      const title = await s.page.locator('.quick-input-widget .quick-input-title').textContent();
      // 2 layers: q/k/v → qkv_proj and gate/up → gate_up_proj in each; o_proj and down_proj as they are.
      assert.match(
        title ?? '',
        /Export for phi3 \(peft naming\): \d+ modules, [1-9]\d* fused, 0 split, 0 left out/,
      );
      assert.ok(await row(/fused from q r\d+ \+ k r\d+ \+ v r\d+ · rank \d+ · exact/).isVisible());
      await s.screenshotOnce('export-for-architecture-report');
      await write.click();
      const out = path.join(s.workspace, 'convert', 'llama_lora-for-phi3');
      await wroteNotice(s);
      assert.ok(existsSync(path.join(out, 'adapter_model.safetensors')), 'the exported adapter');
      assert.deepEqual(readdirSync(out).sort(), [
        'adapter_config.json',
        'adapter_model.safetensors',
      ]);
      // The result goes with the Phi-3 model: its smoke test runs there in one click.
      const smoke = s.page
        .locator('.notifications-toasts .monaco-button', { hasText: 'Run Smoke Test' })
        .first();
      await smoke.click({ timeout: TIMEOUT.ui });
      await s.page
        .locator('.notifications-toasts', { hasText: /LoRA Lens: (\d+)\/\1 modules pass on/ })
        .first()
        .waitFor({ timeout: 240_000 });
    },
    420_000,
  );
});
