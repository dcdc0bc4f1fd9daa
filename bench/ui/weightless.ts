// The baseline: Weightless (kkipngenokoech/weightless), packaged as a VSIX for the bench only.
// Source: WEIGHTLESS_VSIX (a built VSIX), WEIGHTLESS_SRC (a folder), or the mirrored git repo.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../test/e2e/build';

const MIRROR = '/work/.mirror/kkipngenokoech+weightless/repo';

export interface WeightlessBuild {
  vsix: string;
  from: string;
}

/** Returns Weightless's VSIX, or a reason why there is none. */
export function weightlessVsix(workDir: string): WeightlessBuild | { missing: string } {
  const given = process.env['WEIGHTLESS_VSIX'];
  if (given) return existsSync(given) ? { vsix: given, from: given } : { missing: `${given}` };
  let src = process.env['WEIGHTLESS_SRC'];
  const dir = path.join(workDir, 'weightless-src');
  if (!src) {
    if (!existsSync(MIRROR)) return { missing: 'no WEIGHTLESS_SRC / WEIGHTLESS_VSIX, no mirror' };
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('bash', ['-c', `git --git-dir="${MIRROR}" archive HEAD | tar -x -C "${dir}"`]);
    } catch (err) {
      return { missing: `git archive failed: ${(err as Error).message}` };
    }
    src = dir;
  }
  if (!existsSync(path.join(src, 'package.json'))) return { missing: `${src} has no package.json` };
  const out = path.join(workDir, 'weightless.vsix');
  rmSync(out, { force: true });
  try {
    execFileSync(
      path.join(ROOT, 'node_modules', '.bin', 'vsce'),
      [
        'package',
        '--no-dependencies',
        '--allow-missing-repository',
        '--skip-license',
        '--allow-star-activation',
        '--out',
        out,
      ],
      { cwd: src, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return { missing: `vsce package failed: ${e.stderr?.toString().slice(-400) ?? e.message}` };
  }
  if (!existsSync(out)) return { missing: `vsce wrote nothing (${readdirSync(src).join(', ')})` };
  return { vsix: out, from: src === dir ? MIRROR : src };
}
