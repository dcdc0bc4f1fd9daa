// `npm run release`: everything a release needs, in order, stopping at the first failure:
// the CHANGELOG has a section for the version, then type-check + lint + unit tests, a production
// build, one VSIX per platform, and their sizes and SHA-256s. `--e2e` also runs the real-VS-Code
// suite against the host platform's VSIX.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const e2e = process.argv.includes('--e2e');

function step(title, cmd, args) {
  console.log(`\n== ${title}`);
  execFileSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
}

const changelog = readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8');
if (!new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\]`, 'm').test(changelog)) {
  console.error(
    `CHANGELOG.md has no "## [${version}]" section. Move the [Unreleased] notes under it first.`,
  );
  process.exit(1);
}

step('type-check, lint, unit tests', 'npm', ['run', '--silent', 'check']);
if (e2e) step('real-VS-Code suite', 'npm', ['run', '--silent', 'test:e2e']);
step('production build and platform VSIXs', process.execPath, ['scripts/package/package.mjs']);

const dir = path.join(ROOT, 'vsix');
console.log(`\n== lora-lens ${version}`);
for (const f of readdirSync(dir).filter((f) => f.endsWith(`-${version}.vsix`))) {
  const p = path.join(dir, f);
  const sha = createHash('sha256').update(readFileSync(p)).digest('hex');
  console.log(`${f.padEnd(40)} ${(statSync(p).size / 2 ** 20).toFixed(1).padStart(6)} MiB  ${sha}`);
}
