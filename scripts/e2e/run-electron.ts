// Runs the extension-host mocha suite (test/extension-host/) in DESKTOP VS Code with
// @vscode/test-electron, using an installation you already have: it never downloads VS Code.
//
//   VSCODE_EXECUTABLE=/path/to/code npm run test:e2e:electron
//   (on Linux without a display: VSCODE_EXECUTABLE=… xvfb-run -a npm run test:e2e:electron)
//
// Without VSCODE_EXECUTABLE it prints why it skipped and exits 0.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import type { ResultFile } from '../../test/extension-host/index';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<number> {
  const exe = process.env['VSCODE_EXECUTABLE'];
  if (!exe) {
    console.log(
      '[e2e:electron] SKIPPED: VSCODE_EXECUTABLE is not set. Point it at a local VS Code ' +
        '(e.g. /usr/share/code/code) to run the extension-host suite in desktop VS Code; ' +
        'nothing is downloaded. The same suite runs in code-server with `npm run test:e2e`.',
    );
    return 0;
  }
  if (!existsSync(exe)) {
    console.error(`[e2e:electron] VSCODE_EXECUTABLE does not exist: ${exe}`);
    return 1;
  }
  if (process.platform === 'linux' && !process.env['DISPLAY'] && !process.env['WAYLAND_DISPLAY']) {
    console.warn('[e2e:electron] no DISPLAY: run under `xvfb-run -a` if VS Code fails to start');
  }

  const started = Date.now();
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'scripts', 'e2e', 'build-extension-host-tests.ts')],
    { cwd: ROOT, stdio: 'inherit' },
  );
  console.log(`[e2e:electron] build: ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const dir = mkdtempSync(path.join(tmpdir(), 'lora-lens-electron-'));
  const workspace = path.join(dir, 'workspace');
  mkdirSync(workspace, { recursive: true });
  copyFileSync(
    path.join(ROOT, 'samples', 'tiny-llama', 'model.safetensors'),
    path.join(workspace, 'model.safetensors'),
  );
  const resultFile = path.join(dir, 'results.json');
  const runStarted = Date.now();
  let code = 1;
  try {
    code = await runTests({
      vscodeExecutablePath: exe,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: path.join(ROOT, 'out', 'extension-host', 'index.js'),
      extensionTestsEnv: { LORA_LENS_EH_RESULT_FILE: resultFile },
      launchArgs: [
        workspace,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--disable-gpu',
        '--no-sandbox',
        `--user-data-dir=${path.join(dir, 'user-data')}`,
        `--extensions-dir=${path.join(dir, 'extensions')}`,
      ],
    }).catch((err: unknown) => {
      console.error('[e2e:electron] runTests failed:', err);
      return 1;
    });
    if (existsSync(resultFile)) {
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as ResultFile;
      console.log(`[e2e:electron] VS Code ${result.vscodeVersion}`);
      for (const t of result.tests) console.log(`  ${t.state.padEnd(7)} ${t.fullTitle}`);
      console.log(`extension-host: ${result.passed} passed, ${result.failed} failed`);
      if (!result.ok) code = code || 1;
    } else {
      console.error('[e2e:electron] no result file: the suite did not run');
      code = code || 1;
    }
  } finally {
    console.log(`[e2e:electron] run: ${((Date.now() - runStarted) / 1000).toFixed(1)} s`);
    if (process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
