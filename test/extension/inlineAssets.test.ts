import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inlineText } from '../../src/extension/inlineAssets.js';

describe('inline page assets', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-inline-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('inlines a safe file, and reads it again once it is rebuilt', async () => {
    const path = join(dir, 'webview.js');
    await writeFile(path, 'const a = "<\\/script>";');
    assert.equal(inlineText(path), 'const a = "<\\/script>";');
    await writeFile(path, 'const b = 2;');
    const later = new Date(Date.now() + 5000);
    await utimes(path, later, later);
    assert.equal(inlineText(path), 'const b = 2;');
  });

  it('links instead what could end or escape its element, or is not there', async () => {
    for (const [name, text] of [
      ['a.js', 'x = "</script>";'],
      ['b.js', 'x = "</SCRIPT ";'],
      ['c.css', '.a{} </style><p>'],
      ['d.js', 'x = "<!--";'],
      ['e.js', 'x = "<script>";'],
    ] as const) {
      const path = join(dir, name);
      await writeFile(path, text);
      assert.equal(inlineText(path), undefined, name);
    }
    assert.equal(inlineText(join(dir, 'missing.js')), undefined);
  });
});
