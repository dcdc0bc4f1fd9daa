// Entry point that VS Code loads as `extensionTestsPath`: runs the mocha suite in suite/ INSIDE
// the extension host (with the real `vscode` API) and writes a JSON result file.
//
// Result file: $LORA_LENS_EH_RESULT_FILE, or results.json next to this file. It is written
// atomically (temp file + rename) so a harness polling for it never reads half a file.
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Mocha from 'mocha';

export interface TestRecord {
  title: string;
  fullTitle: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  error?: string;
}

export interface ResultFile {
  ok: boolean;
  passed: number;
  failed: number;
  pending: number;
  durationMs: number;
  vscodeVersion: string;
  tests: TestRecord[];
  /** Set when the runner itself failed (no suite files, a load error, …). */
  runnerError?: string;
}

function resultFile(): string {
  return process.env['LORA_LENS_EH_RESULT_FILE'] ?? path.join(__dirname, 'results.json');
}

function writeResult(result: ResultFile): void {
  const file = resultFile();
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(result, null, 2));
  renameSync(tmp, file);
}

async function vscodeVersion(): Promise<string> {
  try {
    // Loaded lazily: `vscode` exists only inside the extension host.
    const vscode = await import('vscode');
    return vscode.version;
  } catch {
    return 'unknown';
  }
}

export async function run(): Promise<void> {
  const started = Date.now();
  const version = await vscodeVersion();
  const tests: TestRecord[] = [];
  const mocha = new Mocha({
    ui: 'tdd',
    color: false,
    timeout: Number(process.env['LORA_LENS_EH_TIMEOUT'] ?? 30_000),
    reporter: 'spec',
  });
  const grep = process.env['LORA_LENS_EH_GREP'];
  if (grep) mocha.grep(grep);

  const suiteDir = path.join(__dirname, 'suite');
  let files: string[] = [];
  try {
    files = readdirSync(suiteDir)
      .filter((f) => f.endsWith('.test.js'))
      .sort();
  } catch {
    // reported below
  }
  if (files.length === 0) {
    const runnerError = `no compiled tests (*.test.js) in ${suiteDir}`;
    writeResult({
      ok: false,
      passed: 0,
      failed: 0,
      pending: 0,
      durationMs: Date.now() - started,
      vscodeVersion: version,
      tests,
      runnerError,
    });
    throw new Error(runnerError);
  }
  for (const f of files) mocha.addFile(path.join(suiteDir, f));

  let failures = 0;
  try {
    failures = await new Promise<number>((resolve, reject) => {
      try {
        const runner = mocha.run((n) => resolve(n));
        runner.on('pass', (t) =>
          tests.push({
            title: t.title,
            fullTitle: t.fullTitle(),
            state: 'passed',
            durationMs: t.duration ?? 0,
          }),
        );
        runner.on('fail', (t, err: Error) =>
          tests.push({
            title: t.title,
            fullTitle: t.fullTitle(),
            state: 'failed',
            durationMs: t.duration ?? 0,
            error: err?.stack ?? String(err),
          }),
        );
        runner.on('pending', (t) =>
          tests.push({ title: t.title, fullTitle: t.fullTitle(), state: 'pending' }),
        );
      } catch (err) {
        reject(err);
      }
    });
  } catch (err) {
    const runnerError = err instanceof Error ? (err.stack ?? err.message) : String(err);
    writeResult({
      ok: false,
      passed: tests.filter((t) => t.state === 'passed').length,
      failed: tests.filter((t) => t.state === 'failed').length,
      pending: tests.filter((t) => t.state === 'pending').length,
      durationMs: Date.now() - started,
      vscodeVersion: version,
      tests,
      runnerError,
    });
    throw err;
  }

  const passed = tests.filter((t) => t.state === 'passed').length;
  const failed = tests.filter((t) => t.state === 'failed').length;
  writeResult({
    ok: failures === 0 && failed === 0 && passed > 0,
    passed,
    failed,
    pending: tests.filter((t) => t.state === 'pending').length,
    durationMs: Date.now() - started,
    vscodeVersion: version,
    tests,
  });
  if (failures > 0) throw new Error(`${failures} extension-host test(s) failed`);
}
