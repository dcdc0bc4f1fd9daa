// Reads the LoRA Lens editor webview through its data-testid contract.
import * as assert from 'node:assert/strict';
import type { Frame, Locator } from 'playwright-core';
import { TIMEOUT, waitFor, type Session } from './harness';

export function byTestId(frame: Frame, id: string): Locator {
  return frame.locator(`[data-testid=${id}]`);
}

/** The integer in a summary element's `data-value` attribute. */
export async function dataValue(frame: Frame, id: string): Promise<number> {
  const raw = await byTestId(frame, id).first().getAttribute('data-value', { timeout: TIMEOUT.ui });
  if (raw === null) throw new Error(`[data-testid=${id}] has no data-value`);
  return Number(raw);
}

export async function text(frame: Frame, id: string): Promise<string> {
  return ((await byTestId(frame, id).first().textContent({ timeout: TIMEOUT.ui })) ?? '').trim();
}

export async function showTab(
  frame: Frame,
  tab: 'overview' | 'tensors' | 'mapping',
): Promise<void> {
  await byTestId(frame, `tab-${tab}`).first().click({ timeout: TIMEOUT.ui });
}

export interface TreeRow {
  kind: string;
  path: string;
  expanded: string | null;
}

/** The tree rows currently in the DOM (the list is windowed: only visible rows are there). */
export async function treeRows(frame: Frame): Promise<TreeRow[]> {
  const rows = byTestId(frame, 'tree-row');
  const n = await rows.count();
  const out: TreeRow[] = [];
  for (let i = 0; i < n; i++) {
    const row = rows.nth(i);
    out.push({
      kind: (await row.getAttribute('data-kind')) ?? '',
      path: (await row.getAttribute('data-path')) ?? '',
      expanded: await row.getAttribute('aria-expanded'),
    });
  }
  return out;
}

export function treeRow(frame: Frame, dataPath: string): Locator {
  return frame.locator(`[data-testid=tree-row][data-path="${dataPath}"]`).first();
}

export interface FilterStats {
  tensors: number;
  params: number;
  bytes: number;
}

export async function filterStats(frame: Frame): Promise<FilterStats> {
  const el = byTestId(frame, 'filter-stats').first();
  return {
    tensors: Number(await el.getAttribute('data-tensors', { timeout: TIMEOUT.ui })),
    params: Number(await el.getAttribute('data-params')),
    bytes: Number(await el.getAttribute('data-bytes')),
  };
}

/** Types into the filter (a vscode-textfield: Playwright's CSS pierces its open shadow root). */
export async function setFilter(frame: Frame, query: string): Promise<void> {
  const input = frame.locator('[data-testid=filter] input').first();
  await input.click({ timeout: TIMEOUT.ui });
  await input.fill('');
  await input.pressSequentially(query, { delay: 20 });
}

/** Waits until the filter totals satisfy `pred` and returns them. */
export async function waitForStats(
  frame: Frame,
  what: string,
  pred: (s: FilterStats) => boolean,
): Promise<FilterStats> {
  return waitFor(
    what,
    async () => {
      const s = await filterStats(frame);
      return pred(s) ? s : undefined;
    },
    TIMEOUT.ui,
    150,
  );
}

/**
 * Waits for the webview to leave `loading` and asserts its state; an unexpected error state
 * fails with the error code and message the editor shows.
 */
export async function expectState(
  s: Session,
  frame: Frame,
  expected: 'ready' | 'error',
  what = 'the editor',
): Promise<void> {
  const state = await s.appState(frame);
  if (state === expected) return;
  let detail = '';
  if (state === 'error') {
    detail = ` (${await text(frame, 'error-code').catch(() => '?')}: ${await text(frame, 'error-message').catch(() => '?')})`;
  }
  assert.fail(`${what}: webview state is "${state}", expected "${expected}"${detail}`);
}
