// Builds what the end-to-end tests need: the extension bundle, a VSIX, and the extension-host
// test bundle. Shared by scripts/e2e/run-all.ts (once per run) and the scenario files (when run
// on their own).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CODE_SERVER_DIR =
  process.env['CODE_SERVER_DIR'] ?? path.join(ROOT, '.vscode-test', 'code-server');
export const CODE_SERVER_BIN = path.join(CODE_SERVER_DIR, 'node_modules', '.bin', 'code-server');
export const EH_OUT_DIR = path.join(ROOT, 'out', 'extension-host');
export const EH_INDEX = path.join(EH_OUT_DIR, 'index.js');
export const RESULTS_DIR = path.join(ROOT, 'test-results');
export const SCREENSHOT_DIR = path.join(RESULTS_DIR, 'screenshots');
export const LOGS_DIR = path.join(RESULTS_DIR, 'e2e-logs');
export const TIMINGS_FILE = path.join(RESULTS_DIR, 'e2e-timings.jsonl');

/** A throwaway folder for this run (shared by all scenario files when E2E_RUN_DIR is set). */
export function runDir(): string {
  const fromEnv = process.env['E2E_RUN_DIR'];
  if (fromEnv) {
    mkdirSync(fromEnv, { recursive: true });
    return fromEnv;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'lora-lens-e2e-'));
  process.env['E2E_RUN_DIR'] = dir;
  // Created here (a scenario file run on its own): remove it when this process ends.
  if (process.env['E2E_KEEP'] !== '1') {
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return dir;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}

export function ensureCodeServer(): void {
  if (existsSync(CODE_SERVER_BIN)) return;
  run('bash', [path.join(ROOT, 'scripts', 'e2e', 'install-code-server.sh')]);
}

export function buildExtension(): void {
  run('npm', ['run', '--silent', 'build']);
}

/** Packages the built extension as this platform's VSIX into `<dir>/lora-lens.vsix`. */
export function packageVsix(dir: string): string {
  const out = path.join(dir, 'lora-lens.vsix');
  run(process.execPath, [
    path.join(ROOT, 'scripts', 'package', 'package.mjs'),
    '--no-build',
    '--target',
    'host',
    '--file',
    out,
  ]);
  return out;
}

export function buildExtensionHostTests(): void {
  run(process.execPath, [
    '--import',
    'tsx',
    path.join(ROOT, 'scripts', 'e2e', 'build-extension-host-tests.ts'),
  ]);
}

/**
 * Returns the VSIX to install. scripts/e2e/run-all.ts builds it once and passes E2E_VSIX; a
 * scenario file run on its own builds and packages it here.
 */
export function ensureVsix(): string {
  const given = process.env['E2E_VSIX'];
  if (given && existsSync(given)) return given;
  buildExtension();
  const vsix = packageVsix(runDir());
  process.env['E2E_VSIX'] = vsix;
  return vsix;
}

/** Builds the extension (for extensionDevelopmentPath) and the test bundle unless already done. */
export function ensureExtensionHostBuild(): void {
  if (process.env['E2E_PREPARED'] === '1' && existsSync(EH_INDEX)) return;
  buildExtension();
  buildExtensionHostTests();
}
