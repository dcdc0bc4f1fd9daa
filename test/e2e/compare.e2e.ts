// A user selects a PEFT adapter and its kohya export in the explorer and runs "Compare With…" from
// the context menu: the Compare view says what differs (renamed keys only, nothing lost), pages the
// lists, and computes ‖ΔW_A − ΔW_B‖ on request. Screenshots in all four themes.
import * as assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import type { Frame } from 'playwright-core';
import { byTestId } from './editor';
import { ROOT, scenario, startSession, TIMEOUT, waitFor, type Session } from './harness';

const FIX = path.join(ROOT, 'test', 'fixtures', 'compare');
const PEFT = 'peft/adapter_model.safetensors';
const KOHYA = 'kohya.safetensors';

/** The Compare view's frame: the webview whose app shows the two sides. */
async function compareFrame(s: Session): Promise<Frame> {
  return waitFor(
    'the Compare view',
    async () => {
      for (const frame of s.page.frames()) {
        if (frame.isDetached()) continue;
        try {
          if ((await frame.locator('[data-testid=compare-side-A]').count()) > 0) return frame;
        } catch {
          // navigating
        }
      }
      return undefined;
    },
    // The comparison runs before the view shows its sides; a loaded CI machine needs the margin.
    3 * TIMEOUT.editor,
  );
}

describe('Compare With… from the explorer', () => {
  let session: Session | undefined;
  const s = () => session;

  before(
    async () => {
      session = await startSession({
        name: 'compare',
        files: {
          [PEFT]: { copyFrom: path.join(FIX, 'checkpoint-2', 'adapter_model.safetensors') },
          'peft/adapter_config.json': {
            copyFrom: path.join(FIX, 'checkpoint-2', 'adapter_config.json'),
          },
          [KOHYA]: { copyFrom: path.join(FIX, 'kohya-from-checkpoint-2.safetensors') },
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario(
    'a PEFT adapter against its kohya export: every key renamed, none lost',
    s,
    async (s) => {
      await s.showExplorer();
      const peftFolder = s.explorerRow('peft');
      await peftFolder.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      if ((await peftFolder.getAttribute('aria-expanded')) !== 'true') await peftFolder.click();
      const a = s.explorerRow('adapter_model.safetensors');
      const b = s.explorerRow(KOHYA);
      await a.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      // A single click opens a preview editor, which reveals (and so selects) its file in the
      // explorer when it is ready: wait for it before making the two-file selection.
      await a.click();
      await s.editorFrame('adapter_model.safetensors');
      await waitFor(
        'both files selected in the explorer',
        async () => {
          if ((await a.getAttribute('aria-selected')) !== 'true') await a.click();
          if ((await b.getAttribute('aria-selected')) !== 'true')
            await b.click({ modifiers: ['Control'] });
          await s.page.waitForTimeout(300);
          const both =
            (await a.getAttribute('aria-selected')) === 'true' &&
            (await b.getAttribute('aria-selected')) === 'true';
          return both || undefined;
        },
        TIMEOUT.ui,
        500,
      );
      await b.click({ button: 'right' });
      const item = s.page
        .locator('.context-view .action-item')
        .filter({ hasText: /^Compare With…$/ })
        .first();
      await item.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      // The menu offers "Compare Selected" only when the right-click kept the two-file selection.
      await s.page
        .locator('.context-view .action-item')
        .filter({ hasText: /^Compare Selected$/ })
        .first()
        .waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      await item.click();
      // A click that lands while the menu is still settling is dropped (the menu stays open with
      // the item highlighted); the highlighted item also runs on Enter.
      await waitFor(
        'the context menu to run "Compare With…"',
        async () => {
          await s.page.waitForTimeout(1000);
          if (!(await item.isVisible())) return true;
          await item.hover({ timeout: 2000 }).catch(() => undefined);
          if (/\bfocused\b/.test((await item.getAttribute('class').catch(() => '')) ?? ''))
            await s.page.keyboard.press('Enter');
          return undefined;
        },
        TIMEOUT.ui,
        0,
      );

      const frame = await compareFrame(s);
      await waitFor(
        'the comparison',
        async () =>
          (await frame.locator('[data-testid=app]').getAttribute('data-state')) === 'ready' ||
          undefined,
        TIMEOUT.editor,
      );
      const verdict = byTestId(frame, 'compare-verdict');
      assert.equal(await verdict.getAttribute('data-differ'), 'true');
      const lines = (await verdict.locator('li').allTextContents()).map((x) => x.trim());
      assert.ok(
        lines.some((l) => /keys? renamed/.test(l)),
        lines.join('; '),
      );
      // Nothing of A is missing from B (B may add its per-module `.alpha` scalars).
      assert.ok(!lines.some((l) => /only in A/.test(l)), `keys were lost: ${lines.join('; ')}`);
      await byTestId(frame, 'compare-tab-renamed').click();
      const rows = byTestId(frame, 'compare-renamed').locator('tbody tr');
      await rows.first().waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      assert.ok((await rows.count()) > 0);
      await s.screenshot('renamed', ['light', 'dark', 'hc-dark', 'hc-light']);
    },
  );

  scenario('ΔW norms on request: the same adapter, no ΔW change', s, async (s) => {
    const frame = await compareFrame(s);
    await byTestId(frame, 'compare-norms').click();
    await waitFor(
      'the norms',
      async () => ((await byTestId(frame, 'compare-tab-norms').count()) > 0 ? true : undefined),
      TIMEOUT.editor,
    );
    const lines = (await byTestId(frame, 'compare-verdict').locator('li').allTextContents()).join(
      '; ',
    );
    assert.ok(!/ΔW changed/.test(lines), lines);
    await byTestId(frame, 'compare-tab-norms').click();
    await byTestId(frame, 'compare-norms')
      .waitFor({ state: 'detached', timeout: TIMEOUT.ui })
      .catch(() => undefined);
    await s.screenshot('norms', ['light', 'dark']);
  });
});
