// Restricted Mode: workspace trust is on and the folder is not trusted. Inspecting headers is
// declared safe there (capabilities.untrustedWorkspaces: limited), so the editor must still work.
import * as assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { dataValue, expectState } from './editor';
import { sample, scenario, startSession, TIMEOUT, type Session } from './harness';
import { readSafetensorsFacts } from './safetensors';

const MODEL = sample('tiny-llama', 'model.safetensors');
const model = readSafetensorsFacts(MODEL);

describe('LoRA Lens in Restricted Mode', () => {
  let session: Session | undefined;

  before(
    async () => {
      session = await startSession({
        name: 'restricted',
        settings: {
          'security.workspace.trust.enabled': true,
          // No startup dialog: an untrusted folder then simply opens in Restricted Mode.
          'security.workspace.trust.startupPrompt': 'never',
          'security.workspace.trust.banner': 'always',
        },
        files: { 'model.safetensors': { copyFrom: MODEL } },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario(
    'the workspace is in Restricted Mode and inspection still works',
    () => session,
    async (s) => {
      await s.page
        .locator('.statusbar-item', { hasText: 'Restricted Mode' })
        .first()
        .waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      await s.openFromExplorer('model.safetensors');
      const app = await s.editorFrame('model.safetensors');
      await expectState(s, app, 'ready');
      assert.equal(await s.activeEditorIsText(), false, 'the text editor opened instead');
      assert.equal(await dataValue(app, 'summary-tensor-count'), model.tensorCount);
      assert.equal(await dataValue(app, 'summary-param-count'), model.paramCount);
      await s.screenshot('model-overview');
    },
  );
});
