/**
 * Screenshots of the webview in plain Chromium, with a synthetic host (npm run preview). Pass
 * `layers=N` for size; 12,500 layers is 100,000+ tensors. Prints how long the filter took.
 */
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const layers = Number(process.argv[2] ?? 4);
execSync(
  'node esbuild.js && npx esbuild scripts/preview/host.ts --bundle --format=iife --outfile=out/preview-host.js --log-level=warning',
  { stdio: 'inherit' },
);
mkdirSync('test-results/preview', { recursive: true });
async function main(): Promise<void> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    page.on('console', (m) => m.type() === 'error' && console.log('console:', m.text()));
    page.on('pageerror', (e) => console.log('pageerror:', e.message));
    const url = `file://${resolve('scripts/preview/page.html')}?layers=${layers}`;
    await page.goto(url);
    await page.waitForSelector('[data-state=ready]');
    await page.screenshot({ path: 'test-results/preview/overview.png' });
    await page.click('[data-testid=compute-stats]');
    await page.waitForSelector('[data-testid=stats]');
    await page.locator('[data-testid=stats]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: 'test-results/preview/stats.png' });
    await page.click('[data-testid=tab-tensors]');
    await page.waitForSelector('[data-testid=tree-row]');
    await page.screenshot({ path: 'test-results/preview/tensors.png' });
    const started = Date.now();
    await page.fill('[data-testid=filter] input', 'layers 3 q_proj');
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid=filter-stats]')?.getAttribute('data-tensors') !==
          null &&
        document
          .querySelector<HTMLElement>('[data-testid=filter-stats]')
          ?.textContent?.includes('match'),
    );

    console.log(
      `filter over ${layers * 8 + 2} tensors: ${Date.now() - started} ms to redraw; rows shown: ${await page.locator('[data-testid=tree-row]').count()}`,
    );
    await page.screenshot({ path: 'test-results/preview/filtered.png' });
    await page.goto(url + '&broken');
    await page.waitForSelector('[data-state=error]');
    await page.screenshot({ path: 'test-results/preview/error.png' });
  } finally {
    await browser.close();
  }
}

void main();
