// The GPU smoke test from the editor: the header button runs the mapped adapter through onnxruntime in a
// child process, the Smoke tab shows the verdict, the execution provider and one row per module, a row
// leads to its module in the Tensors tab, and the last report is still there after reopening.
import * as assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import type { Frame } from 'playwright-core';
import { byTestId, expectState } from './editor';
import { sample, scenario, startSession, TIMEOUT, waitFor, type Session } from './harness';
import { readSafetensorsFacts } from './safetensors';
import { WEBGPU_REQUIRED } from '../helpers/webgpu';

const ADAPTER = 'tiny-llama-lora/adapter_model.safetensors';
/** The PEFT sample adapter and its config, as both sessions' workspaces hold them. */
const ADAPTER_FILES = {
  [ADAPTER]: { copyFrom: sample('tiny-llama-lora', 'adapter_model.safetensors') },
  'tiny-llama-lora/adapter_config.json': {
    copyFrom: sample('tiny-llama-lora', 'adapter_config.json'),
  },
};
/** A cold onnxruntime load, a software Vulkan adapter and two cores: generous. */
const RUN_TIMEOUT = 150_000;

/** The adapter's modules, counted from its own header (two matrices per module). */
function adapterModules(): number {
  const facts = readSafetensorsFacts(sample('tiny-llama-lora', 'adapter_model.safetensors'));
  return facts.tensors.filter((t) => /lora_A\.weight$/.test(t.name)).length;
}

async function showSmokeTab(app: Frame): Promise<void> {
  await byTestId(app, 'tab-smoke').first().click({ timeout: TIMEOUT.ui });
}

/** Waits for the verdict; a run that failed before reporting fails with its error code and message. */
async function waitForVerdict(app: Frame): Promise<void> {
  await waitFor(
    'the smoke test verdict',
    async () => {
      if ((await byTestId(app, 'smoke-verdict').count()) > 0) return true;
      if ((await byTestId(app, 'smoke-error').count()) > 0) {
        const code = await byTestId(app, 'smoke-error-code').textContent();
        const message = await app.locator('[data-testid=smoke-error] .error-message').textContent();
        assert.fail(`the smoke test did not run: ${code ?? '?'}: ${message ?? ''}`);
      }
      return undefined;
    },
    RUN_TIMEOUT,
    500,
  );
}

describe('the GPU smoke test in the editor', () => {
  let session: Session | undefined;
  const s = () => session;
  const modules = adapterModules();

  before(
    async () => {
      session = await startSession({
        name: 'smoke',
        settings: {
          'loraLens.baseModel': 'tiny-llama',
          'loraLens.smokeTest.timeoutSeconds': 240,
        },
        files: {
          'tiny-llama/model.safetensors': { copyFrom: sample('tiny-llama', 'model.safetensors') },
          'tiny-llama/config.json': { copyFrom: sample('tiny-llama', 'config.json') },
          ...ADAPTER_FILES,
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario('before a run, the Smoke tab explains the test', s, async (s) => {
    assert.equal(modules, 8, 'the sample adapter has 8 modules');
    await s.openFromExplorer(ADAPTER);
    const app = await s.editorFrame('adapter_model.safetensors');
    await expectState(s, app, 'ready');
    await showSmokeTab(app);
    await byTestId(app, 'smoke-empty').waitFor({ timeout: TIMEOUT.editor });
    // The base comes from loraLens.baseModel, so the button is enabled once the mapping exists.
    const button = byTestId(app, 'smoke-run');
    await waitFor(
      'the enabled smoke button',
      async () => ((await button.getAttribute('disabled')) === null ? true : undefined),
      TIMEOUT.editor,
    );
    assert.ok(await s.paletteHas('LoRA Lens: Run GPU Smoke Test'), 'the command is in the palette');
  });

  scenario(
    'the toolbar button runs the test and the Smoke tab shows the verdict',
    s,
    async (s) => {
      const app = await s.editorFrame('adapter_model.safetensors');
      await byTestId(app, 'smoke-run').click({ timeout: TIMEOUT.ui });
      await waitForVerdict(app);
      const verdict = byTestId(app, 'smoke-verdict');
      assert.equal(
        await verdict.getAttribute('data-ok'),
        'true',
        `verdict: ${await verdict.textContent()}`,
      );
      assert.equal(await verdict.getAttribute('data-level'), 'pass');
      const ep = await byTestId(app, 'smoke-ep').getAttribute('data-ep');
      // CI has a Vulkan driver (lavapipe) and requires the WebGPU rung to be the one that ran.
      if (WEBGPU_REQUIRED) assert.equal(ep, 'webgpu', `ran on ${ep}`);
      else assert.ok(ep === 'cpu' || ep === 'webgpu', `ran on ${ep}`);
      // CUDA is first in the default ladder and absent here: the report says why it was skipped.
      const cuda = app.locator('[data-testid=smoke-ep-tried] li[data-ep=cuda]');
      assert.equal(await cuda.getAttribute('data-ok'), 'false');
      const counts = byTestId(app, 'smoke-counts');
      assert.equal(await counts.getAttribute('data-rows'), String(modules));
      assert.equal(await counts.getAttribute('data-pass'), String(modules));
      assert.equal(await byTestId(app, 'smoke-row').count(), modules);
      const q = app.locator(
        '[data-testid=smoke-row][data-module="base_model.model.model.layers.0.self_attn.q_proj"]',
      );
      assert.equal(await q.getAttribute('data-target'), 'model.layers.0.self_attn.q_proj.weight');
      assert.equal(await q.getAttribute('data-status'), 'pass');
      assert.equal(await q.locator('[data-shape]').getAttribute('data-shape'), 'ok');
      await s.screenshot('smoke');
    },
    240_000,
  );

  scenario('↓ and Enter on a row reveal its module in the Tensors tab', s, async (s) => {
    const app = await s.editorFrame('adapter_model.safetensors');
    const table = byTestId(app, 'smoke-table');
    await table.focus();
    await table.press('ArrowDown');
    const selected = app.locator('[data-testid=smoke-row][aria-selected=true]');
    await waitFor(
      'the second row to be selected',
      async () => ((await selected.getAttribute('data-index')) === '1' ? true : undefined),
      TIMEOUT.ui,
    );
    const module = (await selected.getAttribute('data-module')) ?? '';
    await table.press('Enter');
    const revealed = app.locator(
      `[data-testid=tree] [data-testid=tree-row][data-path="${module}"]`,
    );
    await revealed.waitFor({ timeout: TIMEOUT.ui });
    await waitFor(
      'the revealed module to be selected',
      async () => ((await revealed.getAttribute('aria-selected')) === 'true' ? true : undefined),
      TIMEOUT.ui,
    );
  });

  scenario('the last report is shown again after reopening the adapter', s, async (s) => {
    await s.runCommand('View: Close All Editors');
    await s.openFromExplorer(ADAPTER);
    const app = await s.editorFrame('adapter_model.safetensors');
    await expectState(s, app, 'ready');
    await showSmokeTab(app);
    const verdict = byTestId(app, 'smoke-verdict');
    await verdict.waitFor({ timeout: TIMEOUT.editor });
    assert.equal(await verdict.getAttribute('data-level'), 'pass');
    assert.equal(await byTestId(app, 'smoke-counts').getAttribute('data-rows'), String(modules));
  });
});

describe('the smoke test and the merged export on an ONNX base', () => {
  let session: Session | undefined;
  const s = () => session;
  const modules = adapterModules();

  before(
    async () => {
      session = await startSession({
        name: 'smoke-onnx',
        settings: {
          'loraLens.baseModel': 'tiny-llama-onnx/model.onnx',
          // Relative to the workspace folder; holds input.* and PEFT's merged output.logits.
          'loraLens.smokeTest.referencePath': 'tiny-llama-onnx/reference.safetensors',
          'loraLens.executionProviders': ['cpu'],
        },
        files: {
          'tiny-llama-onnx/model.onnx': { copyFrom: sample('tiny-llama-onnx', 'model.onnx') },
          'tiny-llama-onnx/reference.safetensors': {
            copyFrom: sample('tiny-llama-onnx', 'reference.safetensors'),
          },
          ...ADAPTER_FILES,
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario(
    'the palette command runs the whole-model check against the reference outputs',
    s,
    async (s) => {
      await s.openFromExplorer(ADAPTER);
      const app = await s.editorFrame('adapter_model.safetensors');
      await expectState(s, app, 'ready');
      const button = byTestId(app, 'smoke-run');
      await waitFor(
        'the mapping onto the ONNX base',
        async () => ((await button.getAttribute('disabled')) === null ? true : undefined),
        TIMEOUT.editor,
      );
      await s.runCommand('LoRA Lens: Run GPU Smoke Test');
      await waitForVerdict(app);
      assert.equal(await byTestId(app, 'smoke-verdict').getAttribute('data-level'), 'pass');
      assert.equal(await byTestId(app, 'smoke-ep').getAttribute('data-ep'), 'cpu');
      assert.equal(await byTestId(app, 'smoke-counts').getAttribute('data-pass'), String(modules));
      const model = byTestId(app, 'smoke-model');
      assert.equal(await model.getAttribute('data-ok'), 'true');
      const output = byTestId(app, 'smoke-model-output');
      assert.equal(await output.count(), 1);
      assert.equal(await output.getAttribute('data-ok'), 'true');
      assert.match((await output.textContent()) ?? '', /logits.*\[1, 8, 256\]/);
      await s.screenshot('smoke-onnx');
    },
    240_000,
  );

  scenario(
    '"Export Merged ONNX Model…" writes <base>-merged.onnx beside the adapter',
    s,
    async (s) => {
      await s.editorFrame('adapter_model.safetensors');
      await s.runCommand('LoRA Lens: Export Merged ONNX Model…');
      // The save dialog proposes the path; Enter accepts it, as a user would.
      const input = s.page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: TIMEOUT.ui });
      await waitFor(
        'the proposed file name',
        async () =>
          /tiny-llama-lora\/model-merged\.onnx$/.test(await input.inputValue()) || undefined,
        TIMEOUT.ui,
      );
      await s.page.keyboard.press('Enter');
      const merged = path.join(s.workspace, 'tiny-llama-lora', 'model-merged.onnx');
      await waitFor('the merged model', async () => existsSync(merged) || undefined, RUN_TIMEOUT);
      const toast = s.page.locator('.notifications-toasts', { hasText: 'model-merged.onnx' });
      await toast.waitFor({ timeout: RUN_TIMEOUT });
      assert.match(
        (await toast.textContent()) ?? '',
        new RegExp(`${modules} initializers patched`),
      );
      const base = statSync(path.join(s.workspace, 'tiny-llama-onnx', 'model.onnx')).size;
      const size = statSync(merged).size;
      assert.ok(Math.abs(size - base) < base * 0.05, `merged ${size} B vs base ${base} B`);
    },
  );
});
