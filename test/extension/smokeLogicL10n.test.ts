// Its own file: @vscode/l10n's bundle is process-wide, and node --test runs each file in its own process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as l10n from '@vscode/l10n';
import { progressStep, smokeErrorText } from '../../src/extension/smokeLogic.js';

describe('smoke wording with a message bundle', () => {
  it('translates through the bundle activate hands to @vscode/l10n, keys as the exporter writes them', () => {
    l10n.config({
      contents: {
        'LoRA Lens: {0} — {1}': 'LoRA Lens : {0} — {1}',
        'nothing to test: {0}': 'rien à tester : {0}',
        'running on {0}': 'exécution sur {0}',
      },
    });
    assert.equal(
      smokeErrorText('échec', 'NothingToTest', 'no module'),
      'LoRA Lens : échec — rien à tester : no module',
    );
    const ep = progressStep({ type: 'ep', attempt: { ep: 'webgpu', error: null } });
    assert.equal(ep.message, 'exécution sur webgpu');
    // A message the bundle lacks falls back to English.
    assert.match(smokeErrorText('x', 'SmokeCancelled', ''), /— cancelled\.$/);
  });
});
