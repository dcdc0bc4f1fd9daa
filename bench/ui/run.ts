// `npm run bench:ui`: the editor in a real VS Code (code-server 4.100.3 + Chromium), against
// Weightless measured in the same run on the same files. See bench/ui/README.md.
//
//   UI_BENCH_ROUNDS=5                  rounds per figure (medians)
//   UI_BENCH_SIZES=30,20000,100000,1000000
//   UI_BENCH_OPEN_TIMEOUT_MS=30000     an open slower than this is reported as "> 30 s"
//   WEIGHTLESS_SRC=dir | WEIGHTLESS_VSIX=file | UI_BENCH_BASELINE=0 (skip the baseline)
//   UI_BENCH_FLOOR=0                   skip the floor (an empty custom editor, bench/ui/floor.ts)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import type { Frame } from 'playwright-core';
import { CODE_SERVER_BIN, ROOT, ensureCodeServer } from '../../test/e2e/build';
import { Session, sleep, waitFor } from '../../test/e2e/harness';
import { EXPERTS, EXPERTS_GROUP, fixturePath, writeFixture } from './fixtures';
import { heapAfterGc } from './heapProbe';
import {
  NAV_TIMING,
  OURS_SUMMARY,
  PROBE_SCRIPT,
  WEIGHTLESS_SUMMARY,
  armFilterProbe,
  extensionHostPid,
  filterMarks,
  median,
  rssMb,
  startFrameTimes,
  stopFrameTimes,
  type FrameStats,
  type NavTiming,
  type OpenMarks,
} from './measure';
import { weightlessVsix } from './weightless';
import { FLOOR_COMMAND, floorLines, floorVsix } from './floor';

const WORK = path.join(ROOT, '.bench-tmp', 'ui');
// Sessions (and so the fixtures in their workspaces) live in the git-ignored .bench-tmp/ui/.
process.env['E2E_RUN_DIR'] = path.join(WORK, `run-${process.pid}`);

const ROUNDS = Math.max(1, Number(process.env['UI_BENCH_ROUNDS'] ?? 5));
const SIZES = (process.env['UI_BENCH_SIZES'] ?? '30,20000,100000,1000000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0)
  .sort((a, b) => a - b);
const OPEN_TIMEOUT = Number(process.env['UI_BENCH_OPEN_TIMEOUT_MS'] ?? 30_000);
const TEN = 10;
const LOAD_AT_START = loadavg();
const TEN_SIZE = 100_000;
const TEN_SETTLE_MS = 10_000;
const FILTER_QUERY = 'q_proj';

type Side = 'ours' | 'weightless' | 'floor';

/** The filter's debounce in the webview source (what a keystroke waits before it asks the host). */
function debounceMs(): number {
  const src = readFileSync(path.join(ROOT, 'webview', 'ui', 'tensorList.ts'), 'utf8');
  const m =
    /onFilterInput\(\s*delay\s*=\s*(\d+)/.exec(src) ??
    /(?:DEBOUNCE|debounce)\w*\s*=\s*(\d+)/.exec(src);
  return m ? Number(m[1]) : 0;
}

// ------------------------------------------------------------------------------------------
// results

interface OpenResult {
  /** click → summary in the DOM (page clock); NaN on timeout. */
  ms: number;
  /** click → the animation frame after it. */
  paintMs: number;
  /** click → seen by the Node-side 10 ms poll. */
  nodeMs: number;
  /** click → the webview's content frame was created. */
  createdMs: number;
  /**
   * The content frame's document received (performance.timing.responseEnd of fake.html, which
   * VS Code loads once it has the webview's HTML) → summary: the part the extension controls.
   */
  htmlToSummaryMs: number;
  /** click → that frame's navigationStart / responseEnd (VS Code's part). */
  navStartMs: number;
  responseEndMs: number;
  /** the #app element in the frame (the HTML written) → summary: a cross-check. */
  appToSummaryMs: number;
  rssBefore: number;
  rssAfter: number;
  timedOut: boolean;
  error: boolean;
  via: string;
  frame: Frame | undefined;
}

interface SizeResult {
  first: OpenResult;
  warm: OpenResult[];
}

interface FilterResult {
  /** input → the frame after the redraw, per round. */
  total: number[];
  /** input → the host's last message before the redraw (debounce, host, IPC), per round. */
  reply: number[];
  shown: string;
  note?: string;
}

interface SideResult {
  side: Side;
  sizes: Map<number, SizeResult>;
  filter: Map<number, FilterResult>;
  expand?: FrameStats[];
  ten?: {
    before: number;
    open: number;
    closed: number;
    /** RSS after close once a full GC has run (through the inspector); NaN when it could not. */
    collected: number;
    openMs: number;
    timedOut: number;
  };
  notes: string[];
}

// ------------------------------------------------------------------------------------------
// session

function installExtension(s: Session, vsix: string): void {
  // What Session.start does for our VSIX, for another one (same folders, same environment).
  for (const d of [s.workspace, path.join(s.dataDir, 'User'), s.extensionsDir])
    mkdirSync(d, { recursive: true });
  execFileSync(
    CODE_SERVER_BIN,
    [
      '--config',
      path.join(s.dir, 'code-server.yaml'),
      '--user-data-dir',
      s.dataDir,
      '--extensions-dir',
      s.extensionsDir,
      '--install-extension',
      vsix,
      '--force',
    ],
    {
      env: {
        ...process.env,
        XDG_CONFIG_HOME: path.join(s.dir, 'xdg-config'),
        XDG_DATA_HOME: path.join(s.dir, 'xdg-data'),
        XDG_CACHE_HOME: path.join(s.dir, 'xdg-cache'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    },
  );
}

async function startSide(
  side: Side,
  vsix: string | undefined,
  sizes: readonly number[],
  copies: boolean,
  name = `ui-bench-${side}`,
): Promise<Session> {
  ensureCodeServer();
  const s = new Session({
    name,
    installVsix: side === 'ours',
    waitForCommand:
      side === 'ours'
        ? undefined
        : side === 'floor'
          ? FLOOR_COMMAND
          : 'Weightless: Open with Weightless',
    settings: { 'workbench.editor.enablePreview': false, 'explorer.autoReveal': false },
  });
  try {
    // Fixtures straight into the workspace (Session would copy them, filling the sparse holes).
    mkdirSync(s.workspace, { recursive: true });
    for (const n of sizes) {
      const fx = writeFixture(s.workspace, n);
      log(
        `${side}: fixture ${fixturePath(n)}: ${n} tensors, header ${(fx.headerBytes / 1e6).toFixed(1)} MB, written in ${fx.ms.toFixed(0)} ms`,
      );
    }
    if (copies) for (let c = 1; c < TEN; c++) writeFixture(s.workspace, TEN_SIZE, c);
    if (vsix && side !== 'ours') installExtension(s, vsix);
    await s.start();
    await s.page.context().addInitScript(PROBE_SCRIPT);
  } catch (err) {
    await s.close();
    throw err;
  }
  return s;
}

function log(line: string): void {
  console.error(`[ui-bench] ${line}`);
}

// ------------------------------------------------------------------------------------------
// actions

async function closeAll(s: Session): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await s.runCommand('View: Close All Editors').catch(() => undefined);
    try {
      await waitFor(
        'the webviews to close',
        async () =>
          (await s.page.locator('.editor-group-container .tab').count()) === 0 || undefined,
        10_000,
        100,
      );
      return;
    } catch {
      log('close all editors: retrying');
    }
  }
}

/** The explorer row of a workspace file, its folders expanded. */
async function explorerRowFor(s: Session, rel: string) {
  await s.showExplorer();
  const parts = rel.split('/');
  const file = parts.pop() ?? rel;
  for (const folder of parts) {
    const row = s.explorerRow(folder);
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  }
  const row = s.explorerRow(file);
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await row.scrollIntoViewIfNeeded();
  return row;
}

const LIVE_CHECK = `[window.__uiBench || null, (() => {
  if (document.querySelector('${OURS_SUMMARY}') || document.querySelector('${WEIGHTLESS_SUMMARY}')) return 'summary';
  if (document.querySelector('[data-testid=app][data-state=error], #app > .error')) return 'error';
  return false;
})()]`;

function diff(a: number | undefined, b: number | undefined): number {
  return a !== undefined && b !== undefined ? a - b : NaN;
}

/** Double-clicks `rel` in the explorer and times click → summary in the editor's webview. */
async function openTimed(s: Session, rel: string): Promise<OpenResult> {
  const page = s.page;
  const row = await explorerRowFor(s, rel);
  const box = await row.boundingBox();
  if (!box) throw new Error(`${rel}: explorer row has no box`);
  const ehPid = extensionHostPid(s.serverPid ?? -1);
  const rssBefore = rssMb(ehPid);
  const before = new Set(page.frames());
  const t0 = Date.now();
  await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
  let nodeAt: number | undefined;
  let marks: OpenMarks | undefined;
  let frame: Frame | undefined;
  let kind: string | false = false;
  while (Date.now() - t0 < OPEN_TIMEOUT) {
    for (const f of page.frames()) {
      if (before.has(f) || f.isDetached()) continue;
      try {
        const [m, live] = (await f.evaluate(LIVE_CHECK)) as [OpenMarks | null, string | false];
        if (live) {
          nodeAt ??= Date.now();
          kind = live;
          frame = f;
          marks = m ?? undefined;
        }
      } catch {
        // not ready or detached
      }
    }
    if (frame) break;
    await sleep(10);
  }
  if (frame) {
    // The next animation frame after the summary appeared is recorded a moment later.
    await waitFor(
      'the paint mark',
      async () => {
        marks = ((await frame?.evaluate('window.__uiBench || null')) ?? undefined) as
          OpenMarks | undefined;
        return !marks || marks.summaryRaf || marks.errorRaf || undefined;
      },
      2_000,
      20,
    ).catch(() => undefined);
  }
  let nav: NavTiming | undefined;
  if (frame)
    nav = ((await frame.evaluate(NAV_TIMING).catch(() => undefined)) ?? undefined) as
      NavTiming | undefined;
  await sleep(1000);
  const rssAfter = rssMb(extensionHostPid(s.serverPid ?? -1));
  const at = kind === 'error' ? marks?.error : marks?.summary;
  const atRaf = kind === 'error' ? marks?.errorRaf : marks?.summaryRaf;
  const nodeMs = nodeAt !== undefined ? nodeAt - t0 : NaN;
  return {
    ms: at !== undefined ? at - t0 : nodeMs,
    paintMs: atRaf !== undefined ? atRaf - t0 : NaN,
    nodeMs,
    createdMs: marks?.created !== undefined ? marks.created - t0 : NaN,
    htmlToSummaryMs: diff(marks?.summary, nav?.responseEnd ?? nav?.entryResponseEnd),
    navStartMs: diff(nav?.navigationStart ?? nav?.entryStart, t0),
    responseEndMs: diff(nav?.responseEnd ?? nav?.entryResponseEnd, t0),
    appToSummaryMs: diff(marks?.summary, marks?.html),
    rssBefore,
    rssAfter,
    timedOut: !frame,
    error: kind === 'error',
    via: at !== undefined ? (marks?.via ?? 'probe') : 'node-poll',
    frame,
  };
}

// ------------------------------------------------------------------------------------------
// filter

const OURS_FILTER = {
  input: '[data-testid=filter] input',
  // Paths of the rows in view, and whether any row is still a placeholder.
  setup: `window.__uiBefore = [...document.querySelectorAll('[data-testid=tree-row]')].map((e) => e.dataset.path).join('|')`,
  done: (total: number) =>
    `(() => {
      const s = document.querySelector('[data-testid=filter-stats]');
      const rows = [...document.querySelectorAll('[data-testid=tree-row]')];
      return !!s && s.dataset.tensors !== '${total}' && rows.length > 0 &&
        rows.map((e) => e.dataset.path).join('|') !== window.__uiBefore &&
        !document.querySelector('[data-testid=tree] .placeholder');
    })()`,
  shown: `document.querySelector('[data-testid=filter-stats]')?.dataset.tensors`,
  cleared: (total: number) =>
    `document.querySelector('[data-testid=filter-stats]')?.dataset.tensors === '${total}' && !document.querySelector('[data-testid=tree] .placeholder')`,
};

// Weightless draws at most 4,001 rows sorted by size, so its count can read the same before and
// after ("4001 of 100000 tensors"): the redraw is done when the first row matches the query.
const WL_FIRST = `document.querySelector('.tensors .ttable tr:nth-child(2) .tname')`;
const WEIGHTLESS_FILTER = {
  input: 'input.search',
  setup: `window.__uiBefore = document.querySelector('.tensors .count')?.textContent`,
  done: () => `(${WL_FIRST}?.textContent ?? '').toLowerCase().includes('${FILTER_QUERY}')`,
  shown: `document.querySelector('.tensors .count')?.textContent`,
  cleared: (total: number) =>
    `document.querySelector('.tensors .count')?.textContent === '${Math.min(total, 4001)} of ${total} tensors' && !(${WL_FIRST}?.textContent ?? '').toLowerCase().includes('${FILTER_QUERY}')`,
};

async function showTensors(side: Side, frame: Frame): Promise<void> {
  if (side === 'ours') {
    await frame.locator('[data-testid=tab-tensors]').first().click({ timeout: 15_000 });
    await frame.locator('[data-testid=tree-row]').first().waitFor({ timeout: OPEN_TIMEOUT });
  } else {
    await frame.locator('.tabs button', { hasText: 'Tensors' }).first().click({ timeout: 15_000 });
    await frame.locator('input.search').first().waitFor({ timeout: OPEN_TIMEOUT });
  }
}

async function benchFilter(side: Side, s: Session, n: number): Promise<FilterResult> {
  await closeAll(s);
  const open = await openTimed(s, fixturePath(n));
  if (!open.frame || open.timedOut || open.error)
    return {
      total: [],
      reply: [],
      shown: '',
      note: open.timedOut ? 'open timed out' : 'open failed',
    };
  const frame = open.frame;
  const f = side === 'ours' ? OURS_FILTER : WEIGHTLESS_FILTER;
  const total: number[] = [];
  const reply: number[] = [];
  let shown = '';
  try {
    await showTensors(side, frame);
    const input = frame.locator(f.input).first();
    for (let r = 0; r < ROUNDS; r++) {
      // Start from the unfiltered list each round.
      await input.fill('');
      await waitFor(
        'the unfiltered list',
        async () => (await frame.evaluate(f.cleared(n))) || undefined,
        OPEN_TIMEOUT,
        20,
      ).catch(() => log(`${side} ${n}: the list did not come back unfiltered`));
      await sleep(300);
      await frame.evaluate(f.setup);
      await armFilterProbe(frame, f.done(n));
      await input.fill(FILTER_QUERY);
      const m = await waitFor(
        'the filtered redraw',
        async () => {
          const m = await filterMarks(frame);
          return m.doneRaf && m.input ? m : undefined;
        },
        OPEN_TIMEOUT,
        10,
      ).catch(() => undefined);
      if (!m || m.input === undefined || m.doneRaf === undefined) {
        total.push(NaN);
        continue;
      }
      total.push(m.doneRaf - m.input);
      reply.push(m.reply === undefined ? NaN : m.reply - m.input);
      shown = String((await frame.evaluate(f.shown)) ?? '');
    }
  } catch (err) {
    return { total, reply, shown, note: (err as Error).message.split('\n')[0] };
  }
  return { total, reply, shown };
}

// ------------------------------------------------------------------------------------------
// expand a 10,000-child group and scroll

async function benchExpand(s: Session, n: number): Promise<FrameStats[]> {
  await closeAll(s);
  const open = await openTimed(s, fixturePath(n));
  if (!open.frame) throw new Error('open timed out');
  const frame = open.frame;
  await showTensors('ours', frame);
  const target = n >= 500_000 ? 'layers.0.experts' : EXPERTS_GROUP;
  const row = (p: string) => frame.locator(`[data-testid=tree-row][data-path="${p}"]`).first();
  // Open the groups above the target, whatever the tree's path segmentation is.
  await waitFor(
    `the ${target} row`,
    async () => {
      if ((await row(target).count()) > 0) return true;
      const paths = (await frame
        .locator('[data-testid=tree-row][data-kind=group][aria-expanded=false]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-path') ?? ''))) as string[];
      const parent = paths
        .filter((p) => target.startsWith(`${p}.`))
        .sort((a, b) => b.length - a.length)[0];
      if (parent) await row(parent).click();
      return undefined;
    },
    30_000,
    200,
  );
  const tree = frame.locator('[data-testid=tree]').first();
  const box = await tree.boundingBox();
  if (!box) throw new Error('the tree has no box');
  const out: FrameStats[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if ((await row(target).getAttribute('aria-expanded')) === 'true') {
      await row(target).click();
      await waitFor(
        'collapse',
        async () => (await row(target).getAttribute('aria-expanded')) === 'false' || undefined,
        15_000,
        50,
      );
    }
    await row(target).scrollIntoViewIfNeeded();
    await sleep(400);
    await startFrameTimes(frame);
    await row(target).click();
    await waitFor(
      'expand',
      async () => (await row(target).getAttribute('aria-expanded')) === 'true' || undefined,
      15_000,
      20,
    );
    // Scroll through the children: 40 wheel steps of 600 px, one every ~30 ms.
    await s.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 40; i++) {
      await s.page.mouse.wheel(0, 600);
      await sleep(30);
    }
    await sleep(300);
    out.push(await stopFrameTimes(frame));
    // Back to the top for the next round.
    await tree.evaluate('(el) => { el.scrollTop = 0; }').catch(() => undefined);
    await frame.evaluate(
      `(() => { const t = document.querySelector('[data-testid=tree]'); if (t) t.scrollTop = 0; })()`,
    );
    await sleep(300);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// a side's whole run

async function runSide(side: Side, vsix?: string): Promise<SideResult> {
  const res: SideResult = { side, sizes: new Map(), filter: new Map(), notes: [] };
  const s = await startSide(side, vsix, SIZES, false);
  try {
    for (const n of SIZES) {
      const rel = fixturePath(n);
      await closeAll(s);
      await sleep(1000);
      const first = await openTimed(s, rel);
      log(`${side} ${n}: first open ${detail(first)}`);
      const warm: OpenResult[] = [];
      // A size that takes seconds to open gets two warm rounds (keeps a full run near 10 minutes).
      const rounds = first.ms > 5000 ? Math.min(ROUNDS, 2) : ROUNDS;
      if (!first.timedOut) {
        for (let r = 0; r < rounds; r++) {
          await closeAll(s);
          await sleep(1000);
          const o = await openTimed(s, rel);
          warm.push(o);
          if (o.timedOut) break;
        }
      }
      log(`${side} ${n}: warm ${warm.map((o) => detail(o)).join('; ')}`);
      res.sizes.set(n, { first, warm });
    }
    // The floor has opens only (no list to filter).
    for (const n of SIZES.filter((n) => n >= 100_000 && side !== 'floor')) {
      const f = await benchFilter(side, s, n);
      log(
        `${side} ${n}: filter ${f.total.map((t) => t.toFixed(0)).join(', ')} (reply at ${f.reply.map((t) => t.toFixed(0)).join(', ')}) ${f.note ?? ''}`,
      );
      res.filter.set(n, f);
    }
    if (side === 'ours' && SIZES.includes(100_000)) {
      try {
        res.expand = await benchExpand(s, 100_000);
        log(`${side}: expand+scroll ${JSON.stringify(res.expand)}`);
      } catch (err) {
        res.notes.push(`expand+scroll: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  } finally {
    await s.close();
  }
  return res;
}

// ------------------------------------------------------------------------------------------
// ten editors, in a session of their own

type TenResult = NonNullable<SideResult['ten']>;

/**
 * A fresh session: the 30-tensor LoRA opened and closed first (activation and the first
 * webview are not counted), then ten different 100k files opened one after another, each left
 * open; RSS with all ten open, then Close All Editors, TEN_SETTLE_MS, and what is left.
 */
async function runTen(side: Side, vsix?: string): Promise<TenResult> {
  const s = await startSide(side, vsix, [30, TEN_SIZE], true, `ui-bench-ten-${side}`);
  try {
    const warm = await openTimed(s, fixturePath(30));
    if (warm.timedOut) throw new Error('the 30-tensor warm-up open timed out');
    await closeAll(s);
    await sleep(2000);
    const eh = () => rssMb(extensionHostPid(s.serverPid ?? -1));
    const before = eh();
    const t0 = Date.now();
    let timedOut = 0;
    for (let c = 0; c < TEN; c++) {
      const o = await openTimed(s, fixturePath(TEN_SIZE, c));
      if (o.timedOut) timedOut++;
    }
    const openMs = Date.now() - t0;
    await sleep(1500);
    const open = eh();
    const host = extensionHostPid(s.serverPid ?? -1);
    // A diagnostic only: the GC it forces makes "left after close" smaller than it would be.
    if (process.env['UI_BENCH_HEAP'] === '1' && host !== undefined)
      log(`${side}: ten editors, heap after GC ${JSON.stringify(await heapAfterGc(host))}`);
    await closeAll(s);
    await sleep(TEN_SETTLE_MS);
    const closed = eh();
    // V8 frees the closed documents at its next full GC, which an idle host may not run for a long
    // while; one forced through the inspector shows what closing released.
    let collected = NaN;
    if (host !== undefined) {
      try {
        const heap = await heapAfterGc(host);
        collected = eh();
        log(`${side}: ten editors closed, heap after GC ${JSON.stringify(heap)}`);
      } catch (err) {
        log(`${side}: ten editors: no GC probe (${(err as Error).message})`);
      }
    }
    const r = { before, open, closed, collected, openMs, timedOut };
    log(`${side}: ten editors ${JSON.stringify(r)}`);
    return r;
  } finally {
    await s.close();
  }
}

// ------------------------------------------------------------------------------------------
// report

function detail(o: OpenResult): string {
  return `${fmtMs(o)} [frame +${o.createdMs.toFixed(0)}, nav +${o.navStartMs.toFixed(0)}, responseEnd +${o.responseEndMs.toFixed(0)}, html→summary ${o.htmlToSummaryMs.toFixed(0)} (#app→summary ${o.appToSummaryMs.toFixed(0)}), poll ${o.nodeMs.toFixed(0)}, paint ${o.paintMs.toFixed(0)}, ${o.via}, RSS +${(o.rssAfter - o.rssBefore).toFixed(1)} MB]`;
}

function fmtMs(o: OpenResult | undefined): string {
  if (!o) return 'n/a';
  if (o.timedOut) return `> ${(OPEN_TIMEOUT / 1000).toFixed(0)} s`;
  if (o.error) return `error after ${o.ms.toFixed(0)} ms`;
  return `${o.ms.toFixed(0)} ms`;
}

function fmt(v: number | undefined, unit: string, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return `${v.toFixed(digits)} ${unit}`;
}

interface Row {
  goal: string;
  ours: string;
  base: string;
  ratio: string;
  met: string;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0)
    return '—';
  return `${(a / b).toFixed(2)}×`;
}

function met(v: number | undefined, ok: (v: number) => boolean): string {
  if (v === undefined || !Number.isFinite(v)) return 'NO (no figure)';
  return ok(v) ? 'yes' : 'NO';
}

const OPEN_GOALS: Record<number, number> = { 30: 250, 100_000: 400, 1_000_000: 2000 };

function warmMedian(r: SizeResult | undefined): number | undefined {
  if (!r) return undefined;
  if (r.first.timedOut || r.warm.some((o) => o.timedOut)) return Infinity;
  return median(r.warm.filter((o) => !o.error).map((o) => o.ms));
}

/** The headline: the first open of the file in the session (Infinity: it timed out). */
function coldMs(r: SizeResult | undefined): number | undefined {
  if (!r) return undefined;
  if (r.first.timedOut) return Infinity;
  return r.first.error ? NaN : r.first.ms;
}

function msOrTimeout(v: number | undefined): string {
  return v === Infinity ? `> ${(OPEN_TIMEOUT / 1000).toFixed(0)} s` : fmt(v, 'ms');
}

function openCell(r: SizeResult | undefined): string {
  if (!r) return 'n/a';
  const warm = r.warm.length ? msOrTimeout(warmMedian(r)) : 'not run';
  const own = median(r.warm.map((o) => o.htmlToSummaryMs));
  const n = r.warm.length < ROUNDS ? `, n=${r.warm.length}` : '';
  return `${fmtMs(r.first)} (html→summary ${fmt(r.first.htmlToSummaryMs, 'ms')}) · warm ${warm} (html→summary ${fmt(own, 'ms')}${n})`;
}

/** The headline: growth over the first open of a file the session had not opened. */
function rssGrowth(r: SizeResult | undefined): number | undefined {
  if (!r || r.first.timedOut) return undefined;
  return r.first.rssAfter - r.first.rssBefore;
}

function rssCell(r: SizeResult | undefined): string {
  if (!r) return 'n/a';
  const reopen = median(r.warm.map((o) => o.rssAfter - o.rssBefore));
  return `${fmt(rssGrowth(r), 'MB', 1)} (reopens ${fmt(reopen, 'MB', 1)})`;
}

function report(
  ours: SideResult,
  base: SideResult | undefined,
  baseWhy: string,
  build: string,
  floor: { res?: SideResult; why: string },
): void {
  const rows: Row[] = [];
  const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
  const noBase = base ? '' : 'not available';
  for (const n of SIZES) {
    const o = ours.sizes.get(n);
    const b = base?.sizes.get(n);
    const goal = OPEN_GOALS[n];
    const c = coldMs(o);
    rows.push({
      goal: `open → summary, ${label(n)} tensors${goal ? ` < ${goal} ms` : ''} (cold)`,
      ours: openCell(o),
      base: base ? openCell(b) : noBase,
      ratio: base ? ratio(c, coldMs(b)) : '—',
      met: goal ? met(c, (v) => v < goal) : '—',
    });
  }
  for (const n of SIZES) {
    const o = ours.sizes.get(n);
    const b = base?.sizes.get(n);
    const g = rssGrowth(o);
    rows.push({
      goal: `ext-host RSS growth, ${label(n)}${n === 100_000 ? ' ≤ 30 MB' : ''} (first open)`,
      ours: rssCell(o),
      base: base ? rssCell(b) : noBase,
      ratio: base ? ratio(g, rssGrowth(b)) : '—',
      met: n === 100_000 ? met(g, (v) => v <= 30) : '—',
    });
  }
  const deb = debounceMs();
  for (const [n, goal] of [
    [100_000, 50],
    [1_000_000, 200],
  ] as const) {
    const o = ours.filter.get(n);
    if (!o) continue;
    const b = base?.filter.get(n);
    const t = median(o.total);
    const bt = b ? median(b.total) : undefined;
    // Where the time went: until the host's reply (debounce, host work, IPC), then drawing.
    const split = (f: FilterResult, t: number | undefined, d: number) => {
      const r = median(f.reply);
      return Number.isFinite(r) && t !== undefined
        ? ` (reply ${fmt(r - d, 'ms')}${d ? ' after the debounce' : ''}, then ${fmt(t - r, 'ms')} to draw)`
        : '';
    };
    const cell = (f: typeof o | undefined, t: number | undefined, d: number) =>
      f
        ? `${fmt(t, 'ms')}${d ? `; − ${d} ms debounce = ${fmt((t ?? NaN) - d, 'ms')}` : ''}${split(f, t, d)} [${f.shown || '?'}${f.note ? `; ${f.note}` : ''}]`
        : 'n/a';
    rows.push({
      goal: `filter "${FILTER_QUERY}" → redraw, ${label(n)} < ${goal} ms w/o debounce`,
      ours: cell(o, t, deb),
      base: base ? cell(b, bt, 0) : noBase,
      ratio: base ? ratio(t - deb, bt) : '—',
      met: met(t - deb, (v) => v < goal),
    });
  }
  if (ours.expand) {
    const maxMs = median(ours.expand.map((e) => e.maxMs));
    const worst = Math.max(...ours.expand.map((e) => e.maxMs));
    const over = median(ours.expand.map((e) => e.over16));
    const frames = median(ours.expand.map((e) => e.frames));
    rows.push({
      goal: `expand ${EXPERTS.toLocaleString('en-US')}-child group + scroll (100k): no frame > 16 ms`,
      ours: `max frame ${fmt(maxMs, 'ms', 1)} (worst ${fmt(worst, 'ms', 1)}), ${over} of ${frames} frames > 16.7 ms`,
      base: 'n/a (no tensor tree)',
      ratio: '—',
      met: met(maxMs, (v) => v <= 16.7),
    });
  }
  const signed = (v: number) =>
    Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(0)} MB` : 'n/a';
  const tenCell = (t: SideResult['ten']) =>
    t
      ? `${signed(t.open - t.before)} with ten open (${(t.openMs / 1000).toFixed(1)} s${t.timedOut ? `, ${t.timedOut} timed out` : ''}); ${signed(t.closed - t.before)} left ${TEN_SETTLE_MS / 1000} s after close, ${signed(t.collected - t.before)} after a GC`
      : 'n/a';
  if (ours.ten) {
    const g = ours.ten.timedOut ? NaN : ours.ten.open - ours.ten.before;
    // "Most returned": after a GC, at most a quarter of the growth is still there.
    const kept = (ours.ten.collected - ours.ten.before) / g;
    rows.push({
      goal: `ten 100k editors: RSS growth < 300 MB, ≥ 75% returned on close (after a GC)`,
      ours: tenCell(ours.ten),
      base: base ? tenCell(base.ten) : noBase,
      ratio: base?.ten ? ratio(g, base.ten.open - base.ten.before) : '—',
      met: met(g, (v) => v < 300 && kept <= 0.25),
    });
  }

  const heads: Row = {
    goal: 'goal',
    ours: 'LoRA Lens',
    base: 'Weightless',
    ratio: 'ratio',
    met: 'met',
  };
  const all = [heads, ...rows];
  const width = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
  const line = (r: Row) =>
    `| ${(['goal', 'ours', 'base', 'ratio', 'met'] as const).map((k) => r[k].padEnd(width(k))).join(' | ')} |`;
  console.log('');
  console.log(
    `UI bench: code-server 4.100.3 + Chromium, ${ROUNDS} rounds (medians), sizes ${SIZES.join(', ')}`,
  );
  console.log(
    `open: click in the explorer → summary in the webview DOM (page clock). cold = first open of that file in the session (headline; the first size's includes activation); warm = median of reopens after Close All Editors (VS Code takes ~1 s there to load the webview's document, both extensions); html→summary = the webview document received (performance.timing.responseEnd in its frame) → summary, the extension's own part`,
  );
  console.log(`ratio = LoRA Lens / Weightless (below 1 is better); filter debounce: ${deb} ms`);
  console.log(
    `machine: ${cpus().length} cores, load average at start ${LOAD_AT_START.map((l) => l.toFixed(1)).join(' ')}, at end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(`LoRA Lens: ${build}`);
  if (!base) console.log(`Weightless: not available (${baseWhy})`);
  console.log(line(heads));
  console.log(
    `| ${(['goal', 'ours', 'base', 'ratio', 'met'] as const).map((k) => '-'.repeat(width(k))).join(' | ')} |`,
  );
  for (const r of rows) console.log(line(r));
  for (const n of [...ours.notes, ...(base?.notes ?? []).map((x) => `Weightless: ${x}`)])
    console.log(`note: ${n}`);
  const floorRows = SIZES.map((n) => {
    const o = ours.sizes.get(n);
    const f = floor.res?.sizes.get(n);
    const [oursCold, floorCold, oursWarm, floorWarm] = [
      coldMs(o),
      coldMs(f),
      warmMedian(o),
      warmMedian(f),
    ];
    return {
      size: label(n),
      ours: openCell(o),
      floor: openCell(f),
      oursCold,
      floorCold,
      oursWarm,
      floorWarm,
    };
  });
  for (const l of floorLines(floorRows, floor.why)) console.log(l);
}

// ------------------------------------------------------------------------------------------
// what ships: the production (minified) build, packaged as this platform's VSIX

function node(args: string[]): void {
  // Progress to stderr: stdout is the table.
  execFileSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 2, 2], timeout: 300_000 });
}

/**
 * Builds `node esbuild.js --production`, packages it into .bench-tmp/ui/ and hands it to the
 * harness (E2E_VSIX, which ensureVsix returns as is), then rebuilds the development bundle so
 * dist/ stays as developers expect. E2E_VSIX given: that one; UI_BENCH_BUILD=dev: what
 * ensureVsix builds (the development bundle). Returns what the table says about it.
 */
function productionVsix(): string {
  const given = process.env['E2E_VSIX'];
  if (given && existsSync(given)) return `E2E_VSIX ${given}`;
  if (process.env['UI_BENCH_BUILD'] === 'dev') return 'development build (UI_BENCH_BUILD=dev)';
  const out = path.join(WORK, 'lora-lens-production.vsix');
  rmSync(out, { force: true });
  const t0 = Date.now();
  let jsBytes = NaN;
  try {
    node(['esbuild.js', '--production']);
    jsBytes = statSync(path.join(ROOT, 'dist', 'extensionMain.js')).size;
    node([
      path.join('scripts', 'package', 'package.mjs'),
      '--no-build',
      '--target',
      'host',
      '--file',
      out,
    ]);
  } finally {
    node(['esbuild.js']);
  }
  process.env['E2E_VSIX'] = out;
  const what = `production VSIX (minified; dist/extensionMain.js ${(jsBytes / 1e6).toFixed(2)} MB, VSIX ${(statSync(out).size / 1e6).toFixed(1)} MB)`;
  log(`${what} in ${((Date.now() - t0) / 1000).toFixed(0)} s; dist/ rebuilt for development`);
  return what;
}

// ------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const started = Date.now();
  let base: SideResult | undefined;
  let baseWhy = '';
  const wl =
    process.env['UI_BENCH_BASELINE'] === '0'
      ? { missing: 'UI_BENCH_BASELINE=0' }
      : weightlessVsix(WORK);
  const build = productionVsix();
  const ours = await runSide('ours');
  const ten = SIZES.includes(TEN_SIZE);
  if (ten) {
    try {
      ours.ten = await runTen('ours');
    } catch (err) {
      ours.notes.push(`ten editors: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if ('vsix' in wl) {
    try {
      base = await runSide('weightless', wl.vsix);
    } catch (err) {
      baseWhy = `its session failed: ${(err as Error).message.split('\n')[0]}`;
    }
    if (base && ten) {
      try {
        base.ten = await runTen('weightless', wl.vsix);
      } catch (err) {
        base.notes.push(`ten editors: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  } else baseWhy = wl.missing;
  const floor: { res?: SideResult; why: string } = { why: '' };
  const fv = floorVsix(WORK);
  if ('vsix' in fv) {
    try {
      floor.res = await runSide('floor', fv.vsix);
    } catch (err) {
      floor.why = `its session failed: ${(err as Error).message.split('\n')[0]}`;
    }
  } else floor.why = fv.missing;
  report(ours, base, baseWhy, build, floor);
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  const dir = process.env['E2E_RUN_DIR'];
  if (dir && existsSync(dir) && process.env['E2E_KEEP'] !== '1')
    rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
