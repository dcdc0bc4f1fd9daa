// `npm run test:e2e`: installs code-server if needed, builds and packages the extension once,
// bundles the extension-host suite, runs every test/e2e/*.e2e.ts scenario file with node:test
// (one at a time: two cores), and prints how long each part took.
//
//   npm run test:e2e                  all scenario files
//   npm run test:e2e -- workbench     only files whose name contains "workbench"
//   E2E_KEEP=1 npm run test:e2e       keep the throwaway folders (printed at the end)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS = path.join(ROOT, 'test-results');
const TIMINGS_FILE = path.join(RESULTS, 'e2e-timings.jsonl');

interface Timing {
  part: string;
  ms: number;
  ok: boolean;
}
const timings: Timing[] = [];
let current: number | undefined;

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // Forward to the running step's process group; its own handlers stop what it started.
    if (current !== undefined) {
      try {
        process.kill(-current, sig);
      } catch {
        // already gone
      }
    }
    setTimeout(() => process.exit(130), 5000).unref();
  });
}

function step(
  part: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  onOutput?: (chunk: string) => void,
): Promise<number> {
  const started = Date.now();
  console.log(`\n[e2e] === ${part} ===`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', onOutput ? 'pipe' : 'inherit', 'inherit'],
    });
    current = child.pid;
    child.stdout?.on('data', (buf: Buffer) => {
      process.stdout.write(buf);
      onOutput?.(buf.toString('utf8'));
    });
    const finish = (code: number) => {
      current = undefined;
      timings.push({ part, ms: Date.now() - started, ok: code === 0 });
      resolve(code);
    };
    child.on('error', (err) => {
      console.error(`[e2e] ${part}: ${err.message}`);
      finish(1);
    });
    child.on('exit', (code, signal) => finish(code ?? (signal ? 1 : 0)));
  });
}

function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(1).padStart(6)} s`;
}

function printTimings(): void {
  console.log('\n[e2e] timings');
  for (const t of timings) console.log(`  ${fmt(t.ms)}  ${t.part}${t.ok ? '' : '  (FAILED)'}`);
  if (existsSync(TIMINGS_FILE)) {
    console.log('  inside the scenario files:');
    for (const line of readFileSync(TIMINGS_FILE, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const {
        file,
        step: name,
        ms,
      } = JSON.parse(line) as { file: string; step: string; ms: number };
      console.log(`    ${fmt(ms)}  ${file}: ${name}`);
    }
  }
  const total = timings.reduce((n, t) => n + t.ms, 0);
  console.log(`  ${fmt(total)}  total`);
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = readdirSync(path.join(ROOT, 'test', 'e2e'))
    .filter((f) => f.endsWith('.e2e.ts'))
    .filter((f) => filters.length === 0 || filters.some((q) => f.includes(q)))
    .sort()
    .map((f) => path.join('test', 'e2e', f));
  if (files.length === 0) {
    console.error(`[e2e] no scenario files match ${filters.join(' ')}`);
    return 1;
  }
  mkdirSync(RESULTS, { recursive: true });
  rmSync(TIMINGS_FILE, { force: true });
  const runDir = mkdtempSync(path.join(tmpdir(), 'lora-lens-e2e-'));
  const vsix = path.join(runDir, 'lora-lens.vsix');
  const env = { ...process.env, E2E_RUN_DIR: runDir, E2E_VSIX: vsix, E2E_PREPARED: '1' };
  let passed = 0;
  let failed = 0;

  try {
    const prep: [string, string, string[]][] = [
      ['install code-server (cached)', 'bash', ['scripts/e2e/install-code-server.sh']],
      ['build extension (npm run build)', 'npm', ['run', '--silent', 'build']],
      [
        // The platform VSIX a user installs: the bundles plus this platform's onnxruntime.
        'package the platform VSIX (vsce --target)',
        process.execPath,
        ['scripts/package/package.mjs', '--no-build', '--target', 'host', '--file', vsix],
      ],
      [
        'bundle extension-host tests',
        process.execPath,
        ['--import', 'tsx', 'scripts/e2e/build-extension-host-tests.ts'],
      ],
    ];
    for (const [part, cmd, args] of prep) {
      const code = await step(part, cmd, args, env);
      if (code !== 0) {
        console.error(`[e2e] ${part} failed (exit ${code}); no scenario ran`);
        failed = 1;
        return 1;
      }
    }

    let out = '';
    const code = await step(
      `scenarios (${files.length} file(s))`,
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
      env,
      (chunk) => (out += chunk),
    );
    // Node's spec reporter ends with "ℹ pass N" / "ℹ fail N".
    const plain = stripVTControlCharacters(out);
    passed = Number(/^\S*\s*pass (\d+)$/m.exec(plain)?.[1] ?? 0);
    failed = Number(/^\S*\s*fail (\d+)$/m.exec(plain)?.[1] ?? (code === 0 ? 0 : 1));
    if (code !== 0 && failed === 0) failed = 1;
    return code;
  } finally {
    printTimings();
    if (process.env['E2E_KEEP'] === '1') console.log(`[e2e] kept ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
    console.log(`[e2e] screenshots: ${path.relative(ROOT, path.join(RESULTS, 'screenshots'))}/`);
    console.log(`e2e: ${passed} passed, ${failed} failed`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
