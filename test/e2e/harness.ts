// End-to-end harness: a real VS Code (code-server 4.100.3 = VS Code 1.100) in Debian's Chromium,
// driven with playwright-core the way a user drives it.
//
//   const s = await startSession({ name: 'workbench', files: { 'model.safetensors': sample(...) } });
//   await s.openFromExplorer('model.safetensors');
//   const app = await s.editorFrame('model.safetensors');
//   await s.screenshot('overview');
//   await s.close();
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { it } from 'node:test';
import { chromium, type Browser, type BrowserServer, type Frame, type Page } from 'playwright-core';
import {
  CODE_SERVER_BIN,
  LOGS_DIR,
  ROOT,
  SCREENSHOT_DIR,
  TIMINGS_FILE,
  ensureCodeServer,
  ensureVsix,
  runDir,
} from './build';
import { spawnTracked, stopGroup, track } from './procs';

export { ROOT } from './build';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
  '--disable-crash-reporter',
  '--disable-breakpad',
];
export const VIEWPORT = { width: 1400, height: 900 };
export const LIGHT_THEME = 'Default Light Modern';
export const DARK_THEME = 'Default Dark Modern';
export const HC_DARK_THEME = 'Dark High Contrast';
export const HC_LIGHT_THEME = 'Light High Contrast';

export type ThemeKind = 'light' | 'dark' | 'hc-dark' | 'hc-light';
/** Theme name and the class the workbench root carries while it is active. */
const THEMES: Record<ThemeKind, { name: string; cls: string }> = {
  light: { name: LIGHT_THEME, cls: 'vs' },
  dark: { name: DARK_THEME, cls: 'vs-dark' },
  'hc-dark': { name: HC_DARK_THEME, cls: 'hc-black' },
  'hc-light': { name: HC_LIGHT_THEME, cls: 'hc-light' },
};

/** Generous defaults: two cores, a cold code-server and a cold browser. */
export const TIMEOUT = {
  workbench: 90_000,
  contributions: 60_000,
  editor: 30_000,
  ui: 15_000,
};

// ------------------------------------------------------------------------------------------
// timings

const fileLabel = path.basename(process.argv[1] ?? 'e2e');

export function recordTiming(step: string, ms: number): void {
  const line = `[e2e] ${step}: ${(ms / 1000).toFixed(1)} s`;
  console.log(line);
  try {
    mkdirSync(path.dirname(TIMINGS_FILE), { recursive: true });
    appendFileSync(TIMINGS_FILE, JSON.stringify({ file: fileLabel, step, ms }) + '\n');
  } catch {
    // timings are informative only
  }
}

export async function timed<T>(step: string, fn: () => Promise<T> | T): Promise<T> {
  const start = Date.now();
  try {
    return await fn();
  } finally {
    recordTiming(step, Date.now() - start);
  }
}

// ------------------------------------------------------------------------------------------
// helpers

export function sample(...segments: string[]): string {
  return path.join(ROOT, 'samples', ...segments);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject()));
    });
  });
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-');
}

// ------------------------------------------------------------------------------------------
// sessions

export type WorkspaceFile = string | Buffer | { copyFrom: string };

export interface SessionOptions {
  /** Names the throwaway folders and prefixes screenshots. */
  name: string;
  /** User settings (merged over the harness defaults). */
  settings?: Record<string, unknown>;
  /** Workspace files: relative path -> text, bytes, or { copyFrom: absolute path }. */
  files?: Record<string, WorkspaceFile>;
  /** Install the packaged VSIX into the throwaway extensions dir (default true). */
  installVsix?: boolean;
  /** Workbench `payload` entries, e.g. extensionDevelopmentPath / extensionTestsPath (paths). */
  payload?: Record<string, string>;
  /** Extra environment for code-server (and so the extension host). */
  env?: Record<string, string>;
  /** Wait until this command title shows in the palette before returning (default: Show Log). */
  waitForCommand?: string | false;
}

export const DEFAULT_SETTINGS: Record<string, unknown> = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.colorTheme': DARK_THEME,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'git.enabled': false,
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
};

export const SHOW_LOG_TITLE = 'LoRA Lens: Show Log';

export async function startSession(options: SessionOptions): Promise<Session> {
  const session = new Session(options);
  try {
    await session.start();
  } catch (err) {
    await session.screenshotOnce(`startup-failed`).catch(() => undefined);
    await session.close();
    throw err;
  }
  return session;
}

export class Session {
  readonly name: string;
  readonly dir: string;
  readonly workspace: string;
  readonly dataDir: string;
  readonly extensionsDir: string;
  port = 0;
  serverPid: number | undefined;
  browserServer: BrowserServer | undefined;
  browser: Browser | undefined;
  private _page: Page | undefined;
  serverLog: string[] = [];
  consoleLog: string[] = [];
  private settings: Record<string, unknown>;

  constructor(readonly options: SessionOptions) {
    this.name = safeName(options.name);
    this.dir = path.join(runDir(), `${this.name}-${process.pid}-${Date.now()}`);
    this.workspace = path.join(this.dir, 'workspace');
    this.dataDir = path.join(this.dir, 'user-data');
    this.extensionsDir = path.join(this.dir, 'extensions');
    this.settings = { ...DEFAULT_SETTINGS, ...(options.settings ?? {}) };
  }

  get page(): Page {
    if (!this._page) throw new Error('session not started');
    return this._page;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts code-server and the browser and waits for the workbench and the extension. */
  async start(): Promise<void> {
    ensureCodeServer();
    mkdirSync(this.workspace, { recursive: true });
    mkdirSync(path.join(this.dataDir, 'User'), { recursive: true });
    mkdirSync(this.extensionsDir, { recursive: true });
    for (const [rel, content] of Object.entries(this.options.files ?? {})) {
      const dest = path.join(this.workspace, rel);
      mkdirSync(path.dirname(dest), { recursive: true });
      if (typeof content === 'object' && !Buffer.isBuffer(content)) {
        copyFileSync(content.copyFrom, dest);
      } else {
        writeFileSync(dest, content);
      }
    }
    this.writeSettings();

    if (this.options.installVsix !== false) {
      const vsix = await timed('build + package VSIX', () => ensureVsix());
      await timed('install VSIX', () => {
        execFileSync(
          CODE_SERVER_BIN,
          [...this.commonArgs(), '--install-extension', vsix, '--force'],
          { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
        );
        assertPlatformInstall(this.extensionsDir);
      });
    }

    await timed('start code-server', () => this.startServer());
    await timed('start chromium', () => this.startBrowser());
    await timed('load workbench', () => this.openWorkbench());
    const cmd = this.options.waitForCommand ?? SHOW_LOG_TITLE;
    if (cmd) {
      await timed('extension contributions registered', () =>
        waitFor(
          `"${cmd}" in the command palette`,
          async () => (await this.paletteHas(cmd)) || undefined,
          TIMEOUT.contributions,
          500,
        ),
      );
    }
  }

  private commonArgs(): string[] {
    return [
      '--config',
      path.join(this.dir, 'code-server.yaml'),
      '--user-data-dir',
      this.dataDir,
      '--extensions-dir',
      this.extensionsDir,
    ];
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      XDG_CONFIG_HOME: path.join(this.dir, 'xdg-config'),
      XDG_DATA_HOME: path.join(this.dir, 'xdg-data'),
      XDG_CACHE_HOME: path.join(this.dir, 'xdg-cache'),
      ...(this.options.env ?? {}),
    };
  }

  private async startServer(): Promise<void> {
    this.port = await freePort();
    const child = spawnTracked(
      'code-server',
      CODE_SERVER_BIN,
      [
        ...this.commonArgs(),
        '--auth',
        'none',
        '--bind-addr',
        `127.0.0.1:${this.port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        this.workspace,
      ],
      { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.serverPid = child.pid;
    const onData = (buf: Buffer) => {
      for (const line of buf.toString('utf8').split('\n')) if (line) this.serverLog.push(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let exited: string | undefined;
    child.on('exit', (code, signal) => {
      exited = `code-server exited (code ${code}, signal ${signal})`;
    });
    await waitFor(
      'code-server to listen',
      async () => {
        if (exited) throw new Error(`${exited}\n${this.serverLog.slice(-20).join('\n')}`);
        return this.serverLog.some((l) => l.includes('HTTP server listening on')) || undefined;
      },
      60_000,
      100,
    );
  }

  private async startBrowser(): Promise<void> {
    this.browserServer = await chromium.launchServer({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      // Keep Chromium's own profile/crash folders out of $HOME.
      env: {
        ...process.env,
        XDG_CONFIG_HOME: path.join(this.dir, 'xdg-config'),
        XDG_CACHE_HOME: path.join(this.dir, 'xdg-cache'),
      },
    });
    // Playwright starts Chromium as a process group leader; register it for group kill.
    track('chromium', this.browserServer.process().pid);
    this.browser = await chromium.connect(this.browserServer.wsEndpoint());
    const context = await this.browser.newContext({
      viewport: VIEWPORT,
      permissions: ['clipboard-read', 'clipboard-write'],
    });
    this._page = await context.newPage();
    this._page.on('console', (msg) => this.consoleLog.push(`[${msg.type()}] ${msg.text()}`));
    this._page.on('pageerror', (err) => this.consoleLog.push(`[pageerror] ${err.message}`));
    // Which resource was missing: a console 404 line names no URL.
    this._page.on('response', (r) => {
      if (r.status() >= 400) this.consoleLog.push(`[error] ${r.status()} ${r.url()}`);
    });
  }

  workbenchUrl(): string {
    const params = new URLSearchParams({ folder: this.workspace });
    if (this.options.payload) {
      const host = `127.0.0.1:${this.port}`;
      const entries = Object.entries(this.options.payload).map(([k, v]) => [
        k,
        `vscode-remote://${host}${v}`,
      ]);
      params.set('payload', JSON.stringify(entries));
    }
    return `${this.baseUrl}/?${params.toString()}`;
  }

  private async openWorkbench(): Promise<void> {
    await this.page.goto(this.workbenchUrl(), { timeout: TIMEOUT.workbench });
    await this.page
      .locator('.monaco-workbench')
      .waitFor({ state: 'visible', timeout: TIMEOUT.workbench });
    // The explorer shows the folder once the remote connection is up.
    await this.page
      .locator('.explorer-folders-view .monaco-list-row')
      .first()
      .waitFor({ state: 'visible', timeout: TIMEOUT.workbench })
      .catch(() => undefined);
  }

  // ----------------------------------------------------------------------------------------
  // settings / theme

  private writeSettings(): void {
    writeFileSync(
      path.join(this.dataDir, 'User', 'settings.json'),
      JSON.stringify(this.settings, null, 2),
    );
  }

  /** Updates user settings.json; the running workbench picks the change up from the file. */
  async updateSettings(patch: Record<string, unknown>): Promise<void> {
    this.settings = { ...this.settings, ...patch };
    this.writeSettings();
  }

  /** Switches the color theme through "Preferences: Color Theme", as a user does. */
  async setTheme(kind: ThemeKind): Promise<void> {
    const { name: theme, cls } = THEMES[kind];
    const isCurrent = async () => {
      const classes = (await this.page.locator('.monaco-workbench').getAttribute('class')) ?? '';
      return classes.split(/\s+/).includes(cls);
    };
    if (await isCurrent()) return;
    await this.runCommand('Preferences: Color Theme');
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    await input.fill(theme);
    // 1.100 labels the rows "Light Modern" with the description "Default Light Modern".
    const row = this.page
      .locator(`.quick-input-list .monaco-list-row[aria-label*="${theme}"]`)
      .first();
    await row.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    await row.click();
    await waitFor(`${kind} theme`, async () => (await isCurrent()) || undefined, TIMEOUT.ui, 100);
    // Give webviews a moment to receive the new theme variables and repaint.
    await sleep(700);
  }

  // ----------------------------------------------------------------------------------------
  // user actions

  /** Opens the quick input with F1 and types `text` (commands mode). */
  private async openPalette(text: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget input.input');
    if (!(await input.isVisible().catch(() => false))) {
      await this.focusWorkbench();
      await this.page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    }
    await input.fill(`>${text}`);
  }

  private async closePalette(): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    if (await widget.isVisible().catch(() => false)) await this.page.keyboard.press('Escape');
  }

  private async focusWorkbench(): Promise<void> {
    // Focus must be in the workbench document (not inside a webview) for keybindings to fire.
    // The middle of the status bar is empty, so a click there does nothing else.
    await this.page
      .locator('.part.statusbar')
      .click({ position: { x: Math.round(VIEWPORT.width / 2), y: 5 } })
      .catch(() => undefined);
  }

  /** Labels of the command palette entries that match `query`. */
  async paletteItems(query: string): Promise<string[]> {
    await this.openPalette(query);
    const rows = this.page.locator('.quick-input-list .monaco-list-row');
    await sleep(300);
    const labels = await rows.evaluateAll((els) =>
      els.map((e) => (e.getAttribute('aria-label') ?? '').trim()),
    );
    return labels;
  }

  async paletteHas(title: string): Promise<boolean> {
    try {
      const labels = await this.paletteItems(title);
      return labels.some((l) => l === title || l.startsWith(`${title},`) || l.startsWith(title));
    } finally {
      await this.closePalette();
    }
  }

  /** Runs a command from the palette by its full title, e.g. "LoRA Lens: Show Log". */
  async runCommand(title: string): Promise<void> {
    await this.openPalette(title);
    const row = this.page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: title }) })
      .first();
    await row.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    await row.click();
  }

  /**
   * Opens a workspace file by its relative path through Quick Open (its default editor): unambiguous
   * where several folders hold files of the same name.
   */
  async quickOpen(relPath: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    await input.fill(relPath);
    const dir = relPath.split('/').slice(0, -1).join(path.sep);
    const row = this.page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ hasText: path.basename(relPath) })
      .filter({ hasText: dir })
      .first();
    await row.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    await row.click();
  }

  /** Focuses the explorer and returns its tree row for `name` (a file or folder name). */
  /**
   * The row named `name` inside the folder whose row has list index `folderIndex`: the first such row
   * below it (the list's DOM order is not its visual order, and other folders may hold the same name).
   */
  private async rowInFolder(name: string, folderIndex: number) {
    const all = this.page.locator('.explorer-folders-view .monaco-list-row').filter({
      has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(name)}$`) }),
    });
    return waitFor(
      `${name} in the expanded folder`,
      async () => {
        let best: number | undefined;
        const count = await all.count();
        for (let n = 0; n < count; n++) {
          const i = Number(await all.nth(n).getAttribute('data-index'));
          if (i > folderIndex && (best === undefined || i < best)) best = i;
        }
        return best === undefined
          ? undefined
          : this.page.locator(`.explorer-folders-view .monaco-list-row[data-index="${best}"]`);
      },
      TIMEOUT.ui,
    );
  }

  explorerRow(name: string) {
    return this.page
      .locator('.explorer-folders-view .monaco-list-row')
      .filter({
        has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(name)}$`) }),
      })
      .first();
  }

  async showExplorer(): Promise<void> {
    const view = this.page.locator('.explorer-folders-view');
    if (!(await view.isVisible().catch(() => false))) {
      await this.runCommand('View: Show Explorer');
      await view.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    }
  }

  /**
   * Opens a workspace file from the explorer tree as a user does: expands each folder on the way
   * and double-clicks the file (`click: 'single'` opens it in preview mode instead).
   */
  async openFromExplorer(relPath: string, click: 'single' | 'double' = 'double'): Promise<void> {
    await this.showExplorer();
    const parts = relPath.split('/');
    const file = parts.pop() ?? relPath;
    let after = -1;
    for (const folder of parts) {
      const row = this.explorerRow(folder);
      await row.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
      if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
      after = Number(await row.getAttribute('data-index'));
    }
    const row = parts.length === 0 ? this.explorerRow(file) : await this.rowInFolder(file, after);
    await row.waitFor({ state: 'visible', timeout: TIMEOUT.ui });
    if (click === 'double') await row.dblclick();
    else await row.click();
  }

  /** The active editor tab's label. */
  async activeTabLabel(): Promise<string> {
    return (
      (await this.page
        .locator('.editor-group-container.active .tab.active .label-name')
        .first()
        .textContent({ timeout: TIMEOUT.ui })) ?? ''
    ).trim();
  }

  /** True when a text (Monaco) editor is what the active editor group shows. */
  async activeEditorIsText(): Promise<boolean> {
    return this.page
      .locator('.editor-group-container.active .editor-instance .monaco-editor')
      .isVisible()
      .catch(() => false);
  }

  /**
   * Finds the webview frame of a LoRA Lens custom editor: iterates page.frames() and returns the
   * one whose document has `[data-testid=app]` (and, when given, shows `fileName`).
   */
  async editorFrame(fileName?: string, timeoutMs = TIMEOUT.editor): Promise<Frame> {
    return waitFor(
      `the LoRA Lens webview${fileName ? ` for ${fileName}` : ''}`,
      async () => {
        for (const frame of this.page.frames()) {
          if (frame.isDetached()) continue;
          try {
            const app = frame.locator('[data-testid=app]');
            if ((await app.count()) === 0) continue;
            if (!fileName) return frame;
            const shown = await frame.locator('[data-testid=file-name]').first().textContent();
            const label = shown?.trim() ?? '';
            if (label === fileName || label.endsWith(`/${fileName}`)) return frame;
          } catch {
            // frame navigated or detached while we looked
          }
        }
        return undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until the webview's app reports `ready` or `error` and returns that state. */
  async appState(frame: Frame, timeoutMs = TIMEOUT.editor): Promise<string> {
    return waitFor(
      'the webview to leave the loading state',
      async () => {
        const state = await frame.locator('[data-testid=app]').getAttribute('data-state');
        return state && state !== 'loading' ? state : undefined;
      },
      timeoutMs,
    );
  }

  /** The browser clipboard's text (the harness grants clipboard permissions). */
  async clipboardText(): Promise<string> {
    // A string expression: this project's tsconfig has no DOM types.
    return (await this.page.evaluate('navigator.clipboard.readText()')) as string;
  }

  // ----------------------------------------------------------------------------------------
  // screenshots

  /**
   * Saves `<session>-<name>-<theme>.png` under test-results/screenshots/, in light and dark unless
   * other themes are asked for (high contrast checks that colours come from the theme).
   */
  async screenshot(
    name: string,
    kinds: readonly ThemeKind[] = ['light', 'dark'],
  ): Promise<string[]> {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const files: string[] = [];
    for (const kind of kinds) {
      await this.setTheme(kind);
      const file = path.join(SCREENSHOT_DIR, `${this.name}-${safeName(name)}-${kind}.png`);
      // Park the mouse on the empty middle of the status bar so that no hover shows.
      await this.page.mouse.move(Math.round(VIEWPORT.width / 2), VIEWPORT.height - 5);
      await this.page.screenshot({ path: file });
      files.push(file);
    }
    return files;
  }

  /** One screenshot in the current theme (used for failures). */
  async screenshotOnce(name: string): Promise<string | undefined> {
    if (!this._page) return undefined;
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const file = path.join(SCREENSHOT_DIR, `${this.name}-${safeName(name)}.png`);
    await this._page.screenshot({ path: file, timeout: 10_000 });
    return file;
  }

  // ----------------------------------------------------------------------------------------
  // teardown

  async close(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    await this.browserServer?.close().catch(() => undefined);
    await stopGroup(this.browserServer?.process().pid);
    await stopGroup(this.serverPid);
    if (process.env['E2E_KEEP'] !== '1') rmSync(this.dir, { recursive: true, force: true });
  }

  /** Log files VS Code wrote under the throwaway user-data-dir (extension host, output channels). */
  private logFiles(): string[] {
    const root = path.join(this.dataDir, 'logs');
    if (!existsSync(root)) return [];
    return (readdirSync(root, { recursive: true }) as string[])
      .map((rel) => path.join(root, rel))
      .filter((f) => f.endsWith('.log'));
  }

  /** Copies the session's logs to test-results/e2e-logs/<session>-<label>/ and returns that folder. */
  saveLogs(label: string): string {
    const dest = path.join(LOGS_DIR, `${this.name}-${safeName(label)}`);
    mkdirSync(dest, { recursive: true });
    for (const f of this.logFiles()) {
      copyFileSync(f, path.join(dest, safeName(path.relative(path.join(this.dataDir, 'logs'), f))));
    }
    writeFileSync(path.join(dest, 'code-server.log'), this.serverLog.join('\n'));
    writeFileSync(path.join(dest, 'browser-console.log'), this.consoleLog.join('\n'));
    return dest;
  }

  /** Short failure context: the LoRA Lens output channel, host errors, browser errors. */
  diagnostics(lines = 15): string {
    const tail = (f: string, pred: (l: string) => boolean = () => true) =>
      readFileSync(f, 'utf8').split('\n').filter(pred).slice(-lines);
    const out: string[] = [];
    for (const f of this.logFiles()) {
      const base = path.basename(f);
      if (base === 'LoRA Lens.log') out.push('--- "LoRA Lens" output channel ---', ...tail(f));
      if (base === 'remoteexthost.log' || base === 'exthost.log') {
        const errors = tail(f, (l) => /\[(error|warning)\]/.test(l) && /lora/i.test(l));
        if (errors.length) out.push(`--- ${base} (LoRA Lens errors) ---`, ...errors);
      }
    }
    const browser = this.consoleLog.filter((l) => /^\[(error|pageerror)\]/.test(l)).slice(-lines);
    if (browser.length) out.push('--- browser console errors ---', ...browser);
    return out.join('\n');
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A scenario: a node:test `it` that saves a screenshot (and prints the logs' tails) when it fails.
 * `getSession` is read when the test runs, so sessions started in `before` work.
 */
export function scenario(
  title: string,
  getSession: () => Session | undefined,
  fn: (s: Session) => Promise<void>,
  timeoutMs = 180_000,
): void {
  it(title, { timeout: timeoutMs }, async () => {
    const s = getSession();
    if (!s) throw new Error('session did not start (see the before hook)');
    const start = Date.now();
    try {
      await fn(s);
    } catch (err) {
      const shot = await s.screenshotOnce(`FAILED-${title}`).catch(() => undefined);
      const logs = (() => {
        try {
          return s.saveLogs(`FAILED-${title}`);
        } catch {
          return undefined;
        }
      })();
      console.error(
        `[e2e] "${title}" failed${shot ? `; screenshot: ${shot}` : ''}${logs ? `; logs: ${logs}` : ''}`,
      );
      console.error(s.diagnostics());
      throw err;
    } finally {
      recordTiming(`scenario: ${title}`, Date.now() - start);
    }
  });
}

/**
 * The installed extension is the platform VSIX a user gets: the smoke worker, and onnxruntime's
 * binaries for this platform only (the npm package carries every platform's).
 */
function assertPlatformInstall(extensionsDir: string): void {
  const installed = readdirSync(extensionsDir).find((d) => d.startsWith('lora-lens.lora-lens-'));
  if (!installed) throw new Error(`the VSIX did not install into ${extensionsDir}`);
  const root = path.join(extensionsDir, installed);
  const bin = path.join(root, 'dist', 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
  const shipped = readdirSync(bin).flatMap((os) =>
    readdirSync(path.join(bin, os)).map((arch) => `${os}/${arch}`),
  );
  const host = `${process.platform}/${process.arch}`;
  if (shipped.length !== 1 || shipped[0] !== host)
    throw new Error(`the VSIX ships onnxruntime for [${shipped.join(', ')}], not just ${host}`);
  for (const f of [
    'dist/extension.js',
    'dist/smokeWorker.js',
    'dist/compare.js',
    'package.nls.json',
  ]) {
    if (!existsSync(path.join(root, f))) throw new Error(`the installed extension lacks ${f}`);
  }
}
