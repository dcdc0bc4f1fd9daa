// What the UI bench reads: probes installed in the webview frames (page-side clocks), the
// extension host's RSS from /proc, and medians.
import { readdirSync, readFileSync } from 'node:fs';
import type { Frame, Page } from 'playwright-core';

// ------------------------------------------------------------------------------------------
// statistics

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

// ------------------------------------------------------------------------------------------
// extension host memory

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function descendsFrom(pid: number, root: number): boolean {
  for (let p = pid, n = 0; p > 1 && n < 32; p = parentOf(p), n++) if (p === root) return true;
  return false;
}

/** The extension host (a node process with --type=extensionHost) under code-server `serverPid`. */
export function extensionHostPid(serverPid: number): number | undefined {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    if (!cmdline(pid).includes('--type=extensionHost')) continue;
    if (descendsFrom(pid, serverPid)) found.push(pid);
  }
  // The newest one if a window reloaded (a higher pid is not guaranteed, but close enough here).
  return found.sort((a, b) => b - a)[0];
}

/** VmRSS in MB, NaN when the process is gone. */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------------------------------------
// webview probes
//
// A webview's content lives in a `fake.html` iframe that VS Code fills with document.write. The
// init script runs when that frame is created (before its content is written) and watches, with a
// MutationObserver plus a 4 ms interval in case document.open() drops the observer, for:
//   summary: LoRA Lens's [data-testid=summary-tensor-count], or Weightless's `#app .summary`;
//   ready:   LoRA Lens's #app[data-state=ready] (Weightless: the same moment as summary);
//   error:   either one's error view;
//   html:    the page's #app element exists (VS Code has written the webview's HTML).
// Times are epoch ms from the page clock (performance.timeOrigin + performance.now()); `*Raf` is
// the next animation frame after it (when that content is painted).

/** LoRA Lens's summary (the first figure of the Overview). */
export const OURS_SUMMARY = '[data-testid=summary-tensor-count]';
/** Weightless's summary. */
export const WEIGHTLESS_SUMMARY = '#app > .summary';
const SUMMARY_JS = `(d.querySelector('${OURS_SUMMARY}') || d.querySelector('${WEIGHTLESS_SUMMARY}'))`;

export const PROBE_SCRIPT = `(() => {
  // The content frame starts as about:blank (its Window is kept through the fake.html load and
  // the document.write that follows), so test where it sits: right under the webview host frame.
  const inWebview = (() => {
    try {
      return window.parent !== window && /\\/webview\\/browser\\/pre\\/index\\.html$/.test(window.parent.location.pathname);
    } catch (e) {
      return false;
    }
  })();
  if (!inWebview) return;
  if (window.__uiBench) return;
  const now = () => performance.timeOrigin + performance.now();
  const B = (window.__uiBench = { created: now() });
  const mark = (k) => {
    if (B[k]) return;
    B[k] = now();
    requestAnimationFrame(() => { B[k + 'Raf'] = now(); });
  };
  const check = (via) => {
    const d = document;
    if (!B.html && d.getElementById('app')) B.html = now();
    if (!B.summary && ${SUMMARY_JS}) { mark('summary'); B.via = via; }
    if (!B.ready && (d.querySelector('[data-testid=app][data-state=ready]') || d.querySelector('${WEIGHTLESS_SUMMARY}'))) mark('ready');
    if (!B.error && d.querySelector('[data-testid=app][data-state=error], #app > .error')) mark('error');
    return B.summary && B.ready;
  };
  const observe = () => {
    try {
      new MutationObserver(() => check('observer')).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    } catch (e) {}
  };
  observe();
  let doc = document.documentElement;
  const iv = setInterval(() => {
    if (document.documentElement !== doc) { doc = document.documentElement; observe(); }
    if (check('interval') || B.error) clearInterval(iv);
  }, 4);
})();`;

export interface OpenMarks {
  created?: number;
  /** The webview's HTML (its #app element) is in the frame: VS Code's part of the open is done. */
  html?: number;
  summary?: number;
  summaryRaf?: number;
  ready?: number;
  readyRaf?: number;
  error?: number;
  errorRaf?: number;
  via?: string;
}

/**
 * The content frame's own navigation (fake.html, which VS Code loads once it has the webview's
 * HTML, then fills with document.write): epoch ms by the page clock. The navigation entry is the
 * one for the document the frame shows; `performance.timing` the legacy view of the same.
 */
export const NAV_TIMING = `(() => {
  const t = performance.timing;
  const n = performance.getEntriesByType('navigation')[0];
  const o = performance.timeOrigin;
  return {
    url: location.href,
    timeOrigin: o,
    navigationStart: t.navigationStart || undefined,
    responseEnd: t.responseEnd || undefined,
    domInteractive: t.domInteractive || undefined,
    entryStart: n ? o + n.startTime : undefined,
    entryResponseEnd: n && n.responseEnd ? o + n.responseEnd : undefined,
  };
})()`;

export interface NavTiming {
  url: string;
  timeOrigin: number;
  navigationStart?: number;
  responseEnd?: number;
  domInteractive?: number;
  entryStart?: number;
  entryResponseEnd?: number;
}

/** Content frames of webviews now in the page (the fake.html ones). */
export function webviewFrames(page: Page): Frame[] {
  return page.frames().filter((f) => !f.isDetached() && /\/fake\.html(\?|$)/.test(f.url()));
}

/** The probe marks of every live webview content frame. */
export async function frameMarks(page: Page): Promise<{ frame: Frame; marks: OpenMarks }[]> {
  const out: { frame: Frame; marks: OpenMarks }[] = [];
  for (const frame of page.frames()) {
    if (frame.isDetached()) continue;
    try {
      const marks = (await frame.evaluate('window.__uiBench || null')) as OpenMarks | null;
      if (marks) out.push({ frame, marks });
    } catch {
      // navigating or detached
    }
  }
  return out;
}

/** Node-side check (the fallback clock): is a summary in this frame's DOM? */
export async function frameHasSummary(frame: Frame): Promise<'summary' | 'error' | false> {
  try {
    return (await frame.evaluate(`(() => {
      const d = document;
      if (${SUMMARY_JS}) return 'summary';
      if (document.querySelector('[data-testid=app][data-state=error], #app > .error')) return 'error';
      return false;
    })()`)) as 'summary' | 'error' | false;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------
// filter and frame-time probes (installed on demand in a frame that already shows its editor)

/**
 * Arms a filter probe: records the page time of the next `input` event (capture phase on window:
 * input events are composed, so the one inside the vscode-textfield's shadow root arrives too),
 * the last message from the host before the list shows the new result, that moment, and the next
 * animation frame.
 * `done` is a JS expression (string) over `before` that is true once the redraw has happened.
 */
export async function armFilterProbe(frame: Frame, doneExpr: string): Promise<void> {
  await frame.evaluate(`(() => {
    const now = () => performance.timeOrigin + performance.now();
    const F = (window.__uiFilter = {});
    const done = () => { try { return ${doneExpr}; } catch (e) { return false; } };
    const finish = () => {
      if (F.done || !F.input) return;
      if (!done()) return;
      F.done = now();
      requestAnimationFrame(() => { F.doneRaf = now(); });
      mo.disconnect();
      clearInterval(iv);
    };
    window.addEventListener('input', () => { if (!F.input) F.input = now(); }, { capture: true, once: true });
    // The last message from the host before the redraw: splits the time into asking and drawing.
    window.addEventListener('message', () => { if (F.input && !F.done) F.reply = now(); }, { capture: true });
    const mo = new MutationObserver(finish);
    mo.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    const iv = setInterval(finish, 4);
  })()`);
}

export interface FilterMarks {
  input?: number;
  reply?: number;
  done?: number;
  doneRaf?: number;
}

export async function filterMarks(frame: Frame): Promise<FilterMarks> {
  return ((await frame.evaluate('window.__uiFilter || {}')) ?? {}) as FilterMarks;
}

/** Starts a requestAnimationFrame loop that records every frame's duration. */
export async function startFrameTimes(frame: Frame): Promise<void> {
  await frame.evaluate(`(() => {
    const R = (window.__uiFrames = { times: [], running: true, last: performance.now() });
    const tick = (t) => {
      R.times.push(t - R.last);
      R.last = t;
      if (R.running) requestAnimationFrame(tick);
    };
    requestAnimationFrame((t) => { R.last = t; requestAnimationFrame(tick); });
  })()`);
}

export interface FrameStats {
  frames: number;
  maxMs: number;
  over16: number;
}

export async function stopFrameTimes(frame: Frame): Promise<FrameStats> {
  const times = (await frame.evaluate(`(() => {
    const R = window.__uiFrames; if (!R) return [];
    R.running = false; return R.times;
  })()`)) as number[];
  return {
    frames: times.length,
    maxMs: times.length ? Math.max(...times) : NaN,
    over16: times.filter((t) => t > 16.7).length,
  };
}
