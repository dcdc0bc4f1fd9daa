// The floor: the least any custom editor can do (bench/ui/floorExtension/: a readonly custom
// editor for *.safetensors whose webview is static HTML holding the element the bench waits for
// on LoRA Lens's side; no file read, no script of its own). Opened like LoRA Lens, in its own
// session, it measures what VS Code (code-server) itself spends making a custom editor's
// webview. Packaged into .bench-tmp/ui/ with this project's @vscode/vsce for the bench only,
// never shipped.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../test/e2e/build';

export const FLOOR_SRC = path.join(ROOT, 'bench', 'ui', 'floorExtension');
/** Contributed by the floor extension: the session waits for it in the palette. */
export const FLOOR_COMMAND = 'LoRA Lens Bench Floor: Ready';
export const FLOOR_TITLE = 'VS Code floor (empty custom editor)';

/** Returns the floor extension's VSIX, or a reason why there is none. */
export function floorVsix(workDir: string): { vsix: string } | { missing: string } {
  if (process.env['UI_BENCH_FLOOR'] === '0') return { missing: 'UI_BENCH_FLOOR=0' };
  // Packaged from a copy, so that nothing vsce might write lands in the source tree.
  const src = path.join(workDir, 'floor-src');
  const out = path.join(workDir, 'floor.vsix');
  rmSync(src, { recursive: true, force: true });
  rmSync(out, { force: true });
  cpSync(FLOOR_SRC, src, { recursive: true });
  try {
    execFileSync(
      path.join(ROOT, 'node_modules', '.bin', 'vsce'),
      [
        'package',
        '--no-dependencies',
        '--allow-missing-repository',
        '--skip-license',
        '--out',
        out,
      ],
      { cwd: src, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return { missing: `vsce package failed: ${e.stderr?.toString().slice(-400) ?? e.message}` };
  }
  return existsSync(out) ? { vsix: out } : { missing: 'vsce wrote nothing' };
}

/** One size: LoRA Lens's and the floor's open cells, and their cold and warm medians. */
export interface FloorRow {
  size: string;
  ours: string;
  floor: string;
  oursCold: number | undefined;
  floorCold: number | undefined;
  oursWarm: number | undefined;
  floorWarm: number | undefined;
}

function minus(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined) return 'n/a';
  if (a === Infinity || b === Infinity)
    return `n/a (${b === Infinity ? 'floor' : 'ours'} timed out)`;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return 'n/a';
  const d = a - b;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(0)} ms`;
}

/** The floor's lines of the report: a table of its own, beside LoRA Lens per size. */
export function floorLines(rows: readonly FloorRow[], why: string): string[] {
  if (why) return [`${FLOOR_TITLE}: not run (${why})`];
  const all = [
    ['size', 'LoRA Lens', FLOOR_TITLE, 'ours − floor'],
    ...rows.map((r) => [
      r.size,
      r.ours,
      r.floor,
      `cold ${minus(r.oursCold, r.floorCold)} · warm ${minus(r.oursWarm, r.floorWarm)}`,
    ]),
  ];
  const width = (i: number) => Math.max(...all.map((r) => (r[i] ?? '').length));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width(i))).join(' | ')} |`;
  return [
    '',
    `${FLOOR_TITLE}: bench/ui/floorExtension, a readonly custom editor whose webview is static HTML with the summary element (no file read, no script of its own; scripts enabled), opened the same way in its own session; ours − floor is what LoRA Lens adds over it`,
    line(all[0] ?? []),
    `| ${all[0]?.map((_, i) => '-'.repeat(width(i))).join(' | ')} |`,
    ...all.slice(1).map(line),
  ];
}
