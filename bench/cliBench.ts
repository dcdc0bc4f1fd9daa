/**
 * The real `lora-lens` CLI (dist/cli.js, built by `node esbuild.js`) run as child processes, against
 * floors run the same way in the same run (issue 15, goal 1):
 *  - `inspect` (text and `--json`) of a 20,000-tensor header over a sparse 10 GB file, against a
 *    Node process that reads the 8 + N header bytes and JSON.parses them;
 *  - peak RSS of each, against that same floor process (the goal is an absolute 80 MiB);
 *  - `--help` (loading the bundle) against `node -e 0`.
 * Each figure is the median of ROUNDS runs, the two sides interleaved so drift hits both alike.
 * stdout goes to /dev/null, so writing the output counts but no pipe reader does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROUNDS = Number(process.env.CLI_BENCH_ROUNDS ?? 15);
const RATIO_GOAL = 1.3;
const RSS_GOAL_MIB = 80;

/** The floor: read the prefix and the header, JSON.parse it, touch the result. */
const FLOOR_JS = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[2], 'r');
const prefix = Buffer.alloc(8);
fs.readSync(fd, prefix, 0, 8, 0);
const n = Number(prefix.readBigUInt64LE());
const header = Buffer.alloc(n);
fs.readSync(fd, header, 0, n, 8);
fs.closeSync(fd);
process.stdout.write(Object.keys(JSON.parse(header.toString('utf8'))).length + '\\n');
`;

export interface Run {
  ms: number;
  /** User + system CPU time (GNU time, 10 ms steps; averaged): steadier than wall time on a busy machine. */
  cpuMs: number;
  rssMiB: number;
}

const GNU_TIME = '/usr/bin/time';

/** One child, timed from spawn to exit; CPU time and peak RSS from GNU time when it is there. */
function runOnce(args: readonly string[], env?: NodeJS.ProcessEnv): Run {
  const useTime = existsSync(GNU_TIME);
  const cmd = useTime ? GNU_TIME : process.execPath;
  const argv = useTime ? ['-f', '%U %S %M', process.execPath, ...args] : [...args];
  const t = performance.now();
  const r = spawnSync(cmd, argv, {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    ...(env ? { env } : {}),
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const [user, sys, kib] = useTime
    ? (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number)
    : [NaN, NaN, NaN];
  return { ms, cpuMs: ((user ?? NaN) + (sys ?? NaN)) * 1000, rssMiB: (kib ?? NaN) / 1024 };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Wall and RSS medians and mean CPU time of both sides, interleaved (after two warm-up rounds). */
export function compare(
  ours: readonly string[],
  base: readonly string[],
  rounds = ROUNDS,
  warmups = 2,
  oursEnv?: NodeJS.ProcessEnv,
): { ours: Run; base: Run } {
  for (let i = 0; i < warmups; i++) {
    runOnce(ours, oursEnv);
    runOnce(base);
  }
  const o: Run[] = [];
  const b: Run[] = [];
  for (let i = 0; i < rounds; i++) {
    o.push(runOnce(ours, oursEnv));
    b.push(runOnce(base));
  }
  const sum = (rs: Run[]): Run => ({
    ms: median(rs.map((r) => r.ms)),
    cpuMs: mean(rs.map((r) => r.cpuMs)),
    rssMiB: median(rs.map((r) => r.rssMiB)),
  });
  return { ours: sum(o), base: sum(b) };
}

const row = (label: string, ours: string, base: string, ratio: number, met: boolean): string =>
  `  ${label.padEnd(22)} ours ${ours.padStart(9)}  baseline ${base.padStart(9)}  ratio ${ratio.toFixed(2)}×  ${met ? 'met' : 'NOT met'}`;

/** A wall-time row: both medians in ms and their ratio. */
const msRow = (label: string, r: { ours: Run; base: Run }, met: boolean): string =>
  row(
    label,
    `${r.ours.ms.toFixed(0)} ms`,
    `${r.base.ms.toFixed(0)} ms`,
    r.ours.ms / r.base.ms,
    met,
  );

/** Runs the CLI bench on `file` (a safetensors file); returns the lines to print. */
export function benchCli(dir: string, file: string, tensors: number): string[] {
  // Build first, so the figures are those of the sources as they are now.
  const built = spawnSync(process.execPath, ['esbuild.js'], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`node esbuild.js failed: ${built.stderr}`);
  const cli = resolve('dist/cli.js');
  mkdirSync(dir, { recursive: true });
  const floorJs = join(dir, 'floor.cjs');
  writeFileSync(floorJs, FLOOR_JS);
  const floor = [floorJs, file];
  // The CLI's code cache (src/boot/codeCache.ts) in a folder of the bench's own, made by the warm-up
  // runs; "first run" is the same command with the cache off, as on a first run after installing.
  const cached: NodeJS.ProcessEnv = {
    ...process.env,
    LORA_LENS_CACHE_DIR: join(dir, 'code-cache'),
  };
  delete cached.LORA_LENS_NO_CODE_CACHE;
  const uncached = { ...process.env, LORA_LENS_NO_CODE_CACHE: '1' };
  const lines = [
    `lora-lens CLI (node dist/cli.js, child processes, median of ${ROUNDS}): inspect of ${tensors.toLocaleString('en-US')} tensors; baseline = node reading the header + JSON.parse`,
  ];
  for (const [label, args] of [
    ['inspect (text)', [cli, 'inspect', file]],
    ['inspect --json', [cli, 'inspect', file, '--json']],
  ] as const) {
    const r = compare(args, floor, ROUNDS, 2, cached);
    lines.push(msRow(label, r, r.ours.ms / r.base.ms <= RATIO_GOAL));
    const cpu = r.ours.cpuMs / r.base.cpuMs;
    lines.push(
      row(
        `${label} CPU`,
        `${r.ours.cpuMs.toFixed(0)} ms`,
        `${r.base.cpuMs.toFixed(0)} ms`,
        cpu,
        cpu <= RATIO_GOAL,
      ),
    );
    lines.push(
      row(
        `${label} peak RSS`,
        `${r.ours.rssMiB.toFixed(0)} MiB`,
        `${r.base.rssMiB.toFixed(0)} MiB`,
        r.ours.rssMiB / r.base.rssMiB,
        r.ours.rssMiB <= RSS_GOAL_MIB,
      ) + ` (goal ≤ ${RSS_GOAL_MIB} MiB)`,
    );
  }
  const first = compare([cli, 'inspect', file], floor, ROUNDS, 2, uncached);
  lines.push(msRow('inspect, first run', first, true) + ' (no code cache yet: informational)');
  const help = compare([cli, '--help'], ['-e', '0'], ROUNDS, 2, cached);
  lines.push(
    msRow('--help (bundle load)', help, true) +
      ` (+${(help.ours.ms - help.base.ms).toFixed(0)} ms over node -e 0; informational)`,
  );
  return lines;
}
