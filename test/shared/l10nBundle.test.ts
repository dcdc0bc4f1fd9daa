import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { getL10nJson } from '@vscode/l10n-dev';
import { l10nBundleScript, parseL10nBundle } from '../../src/shared/l10nBundle.js';

const ROOT = path.resolve(__dirname, '..', '..');

describe('l10n/bundle.l10n.json', () => {
  it('holds exactly the strings the sources pass to l10n.t (run `npm run l10n` after changing one)', async () => {
    // The exporter's own analyzer (what `npm run l10n` runs), in process and offline. It compiles its
    // queries once per file, 0.25 s each, so the calling files are analysed as one source under the
    // two imports the house style allows; the check below keeps that equivalent to the export.
    const users = sourceFiles(['src', 'webview'])
      .map((file) => ({ file, text: readFileSync(file, 'utf8') }))
      .filter(({ text }) => /\bl10n\.t\b/.test(text));
    for (const { file, text } of users)
      assert.ok(
        text.includes("import * as vscode from 'vscode';") ||
          text.includes("import * as l10n from '@vscode/l10n';"),
        `${path.relative(ROOT, file)}: call vscode.l10n.t (host) or l10n.t from \`import * as l10n from '@vscode/l10n'\` (webview), or the exporter misses the strings`,
      );
    const contents = [
      "import * as vscode from 'vscode';",
      "import * as l10n from '@vscode/l10n';",
      ...users.map(({ text }) => text.replace(/^import\s[^;]*;/gm, '')),
    ].join('\n');
    const fresh = await getL10nJson([{ extension: '.ts', contents }]);
    const committed = JSON.parse(
      readFileSync(path.join(ROOT, 'l10n', 'bundle.l10n.json'), 'utf8'),
    ) as Record<string, unknown>;
    const missing = Object.keys(fresh).filter((k) => !(k in committed));
    const stale = Object.keys(committed).filter((k) => !(k in fresh));
    assert.deepEqual(
      { missing, stale },
      { missing: [], stale: [] },
      'l10n/bundle.l10n.json is out of date: run `npm run l10n`',
    );
    assert.deepEqual(committed, fresh);
    const count = Object.keys(fresh).length;
    assert.ok(count > 150, `only ${count} strings: did the exporter stop seeing the calls?`);
  });
});

function sourceFiles(dirs: string[]): string[] {
  return dirs.flatMap((dir) =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
      .map((e) => path.join(e.parentPath, e.name)),
  );
}

describe('l10nBundleScript / parseL10nBundle', () => {
  it('is empty without a bundle (English)', () => {
    assert.equal(l10nBundleScript(undefined), '');
    assert.equal(l10nBundleScript({}), '');
  });

  it('round-trips a bundle through the page, and no message can close the element', () => {
    const bundle = {
      'Reading {0}…': 'Lecture de {0}…',
      evil: '</script><script>alert(1)</script><!--',
    };
    const tag = l10nBundleScript(bundle);
    assert.match(tag, /^<script type="application\/json" id="l10n-bundle">/);
    assert.equal(tag.indexOf('</script>'), tag.length - '</script>'.length);
    assert.ok(!tag.includes('<!--'));
    const text = tag.slice(tag.indexOf('>') + 1, tag.length - '</script>'.length);
    assert.deepEqual(parseL10nBundle(text), bundle);
  });

  it('falls back to English on anything but a string map', () => {
    for (const text of [null, undefined, '', 'not json', '[]', '"x"', 'null', '{"a":1}'])
      assert.equal(parseL10nBundle(text), undefined, String(text));
  });
});
