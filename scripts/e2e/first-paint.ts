// Click in the explorer → LoRA Lens summary painted, in code-server + Chromium (the e2e harness).
// Cold: the first open of a session (includes activating the extension); warm: after
// "View: Close All Editors". Prints medians and a per-phase breakdown from the webview's own
// epoch marks on #app (data-t-*) and the browser's resource timing for dist/webview.js (none, so
// NaN, when the page carries the bundle inline).
//   node --import tsx scripts/e2e/first-paint.ts [sessions=2] [warm-per-session=5]
import { sample, sleep, startSession, type Session } from '../../test/e2e/harness';
import type { Frame } from 'playwright-core';

const SESSIONS = Number(process.argv[2] ?? 2);
const WARM = Number(process.argv[3] ?? 5);
const FILE = 'adapter_model.safetensors';

type Sample = Record<string, number>;

async function readyFrame(s: Session, deadline: number): Promise<Frame> {
  while (Date.now() < deadline) {
    for (const frame of s.page.frames()) {
      if (frame.isDetached()) continue;
      try {
        const ok = await frame
          .locator('[data-testid=app][data-state=ready][data-t-painted]')
          .count();
        if (ok) return frame;
      } catch {
        // navigating
      }
    }
    await sleep(20);
  }
  throw new Error('no painted LoRA Lens webview');
}

async function openOnce(s: Session): Promise<Sample> {
  await s.showExplorer();
  const folder = s.page
    .locator('.explorer-folders-view .monaco-list-row')
    .filter({ has: s.page.locator('.label-name', { hasText: /^lora$/ }) })
    .first();
  if ((await folder.getAttribute('aria-expanded')) !== 'true') await folder.click();
  const row = s.page
    .locator('.explorer-folders-view .monaco-list-row')
    .filter({ has: s.page.locator('.label-name', { hasText: new RegExp(`^${FILE}$`) }) })
    .first();
  await row.waitFor({ state: 'visible' });
  const click = Date.now();
  await row.dblclick();
  const frame = await readyFrame(s, click + 30_000);
  const seen = Date.now();
  const web = (await frame.evaluate(`(() => {
    const d = document.getElementById('app').dataset;
    const r = performance.getEntriesByType('resource').find((e) => /webview\\.js/.test(e.name));
    const n = performance.getEntriesByType('navigation')[0];
    const o = performance.timeOrigin;
    return {
      origin: o,
      bundleStart: r ? o + r.startTime : 0,
      bundleEnd: r ? o + r.responseEnd : 0,
      bundleBytes: r ? r.encodedBodySize || r.decodedBodySize : 0,
      domInteractive: n ? o + n.domInteractive : 0,
      script: Number(d.tScript), readySent: Number(d.tReadySent),
      readyAnswered: Number(d.tReadyAnswered), rendered: Number(d.tRendered),
      painted: Number(d.tPainted),
      entries: performance.getEntries().map((e) => e.entryType + ' ' + e.name.slice(-40) + ' ' + Math.round(e.startTime) + '..' + Math.round(e.responseEnd ?? e.startTime + e.duration)).join(' | '),
    };
  })()`)) as Sample;
  if (process.env['FP_ENTRIES']) console.log(web['entries']);
  const rel = (t: number | undefined) => (t ? Math.round(t - click) : NaN);
  return {
    frameOrigin: rel(web['origin']),
    bundleStart: rel(web['bundleStart']),
    bundleEnd: rel(web['bundleEnd']),
    scriptRan: rel(web['script']),
    readySent: rel(web['readySent']),
    readyAnswered: rel(web['readyAnswered']),
    rendered: rel(web['rendered']),
    painted: rel(web['painted']),
    harnessSaw: seen - click,
    bundleKB: Math.round((web['bundleBytes'] ?? 0) / 1024),
  };
}

const median = (xs: number[]) => {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return v.length ? (v[Math.floor(v.length / 2)] ?? NaN) : NaN;
};

function table(label: string, rows: Sample[]): void {
  console.log(`\n${label} (n=${rows.length}), ms after the double-click, median:`);
  for (const k of Object.keys(rows[0] ?? {}))
    console.log(`  ${k.padEnd(18)} ${String(median(rows.map((r) => r[k] ?? NaN))).padStart(6)}`);
}

async function main(): Promise<void> {
  const cold: Sample[] = [];
  const warm: Sample[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const s = await startSession({
      name: `first-paint-${i}`,
      files: {
        [`lora/${FILE}`]: { copyFrom: sample('tiny-llama-lora', FILE) },
        'lora/adapter_config.json': { copyFrom: sample('tiny-llama-lora', 'adapter_config.json') },
      },
    });
    try {
      await sleep(1000);
      cold.push(await openOnce(s));
      for (let j = 0; j < WARM; j++) {
        await s.runCommand('View: Close All Editors');
        await sleep(500);
        warm.push(await openOnce(s));
      }
    } finally {
      await s.close();
    }
  }
  table('cold', cold);
  table('warm', warm);
  console.log(
    `\nclick→painted median: cold ${median(cold.map((r) => r['painted'] ?? NaN))} ms, warm ${median(warm.map((r) => r['painted'] ?? NaN))} ms`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
