// "Know the model" in the Overview, as a user sees it: a base model says what it is (family, the
// dimensions, parameters by part, memory with formulas); an adapter shows its layers × module-types
// grid, coloured by rank, and its base's architecture. Screenshots in all four themes.
import * as assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { byTestId, expectState } from './editor';
import { sample, scenario, startSession, TIMEOUT, type Session } from './harness';

const THEMES = ['light', 'dark', 'hc-dark', 'hc-light'] as const;

describe('the model in the Overview', () => {
  let session: Session | undefined;
  const s = () => session;

  before(
    async () => {
      session = await startSession({
        name: 'model',
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

  scenario('a base model: family, dimensions, parts and memory with formulas', s, async (s) => {
    await s.openFromExplorer('tiny-llama/model.safetensors');
    const app = await s.editorFrame('model.safetensors');
    await expectState(s, app, 'ready');
    const section = byTestId(app, 'model-section');
    await section.waitFor({ timeout: TIMEOUT.ui });
    assert.equal(await byTestId(app, 'model-family').textContent(), 'llama');
    assert.equal(await byTestId(app, 'dim-hiddenSize').textContent(), '64');
    assert.equal(await byTestId(app, 'dim-numKeyValueHeads').textContent(), '2');
    const kv = await byTestId(app, 'memory-kv-cache-1k').textContent();
    assert.match(
      kv ?? '',
      /2 layers × 2 KV heads × 16 head dim × 2 \(K and V\) × 2 bytes × 1,000 tokens/,
    );
    await section.scrollIntoViewIfNeeded();
    await s.screenshot('base-model', THEMES);
  });

  scenario(
    "an adapter: the layers × modules grid by rank, and its base's architecture",
    s,
    async (s) => {
      await s.openFromExplorer('tiny-llama-lora/adapter_model.safetensors');
      const app = await s.editorFrame('adapter_model.safetensors');
      await expectState(s, app, 'ready');
      const grid = byTestId(app, 'coverage-grid');
      await grid.waitFor({ timeout: TIMEOUT.ui });
      assert.deepEqual(await grid.locator('thead th').allTextContents(), ['', 'q', 'k', 'v', 'o']);
      assert.deepEqual(await grid.locator('tbody th').allTextContents(), [
        'model.layers.0',
        'model.layers.1',
      ]);
      assert.equal(await grid.locator('tbody td').count(), 8);
      const base = byTestId(app, 'base-model');
      await base.locator('[data-testid=model-family]').waitFor({ timeout: TIMEOUT.editor });
      assert.equal(await base.locator('[data-testid=model-family]').textContent(), 'llama');
      // What the adapter itself says (adapter_config.json base_model_name_or_path "tiny-llama").
      assert.match(
        (await base.locator('[data-testid=declared-base]').textContent()) ?? '',
        /Trained for: llama/,
      );
      // LoRA memory at this adapter's rank, not the default.
      assert.match(
        (await base.locator('[data-testid=memory-train-lora]').textContent()) ?? '',
        /this adapter, rank 8/,
      );
      await grid.scrollIntoViewIfNeeded();
      await s.screenshot('adapter-grid', THEMES);
    },
  );
});
