import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import {
  bundleIdOf,
  commandTag,
  defaultCacheDir,
  runWithCodeCache,
} from '../../src/boot/codeCache.js';

const root = mkdtempSync(join(tmpdir(), 'lora-lens-code-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh folder with a CommonJS module `main.js` and an empty cache folder beside it. */
function fixture(source: string): { file: string; cache: string } {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir);
  const file = join(dir, 'main.js');
  writeFileSync(file, source);
  return { file, cache: join(dir, 'cache') };
}

const MODULE = `
const path = require('node:path');
function double(x) { return x * 2; }
module.exports = { value: double(21), dir: __dirname, file: __filename, join: typeof path.join, self: this === module.exports };
`;

describe('runWithCodeCache', () => {
  it('runs the file as a CommonJS module, then runs it again from the cache it wrote', () => {
    const { file, cache } = fixture(MODULE);
    const first = runWithCodeCache(file, cache, 'inspect', '1.0.0');
    assert.deepEqual(first.exports, {
      value: 42,
      dir: join(file, '..'),
      file,
      join: 'function',
      self: true,
    });
    assert.equal(first.accepted, false);
    assert.ok(first.cacheFile?.endsWith('-inspect.v8cache'));
    assert.equal(first.save(), true);
    assert.equal(first.save(), false, 'written once');
    assert.equal((statSync(cache).mode & 0o777).toString(8), '700');
    assert.ok(statSync(first.cacheFile ?? '').size > 0);

    // Whether V8 takes it shows only in another process (in this one, V8 has the script in memory):
    // see the executable's tests below.
    const second = runWithCodeCache(file, cache, 'inspect', '1.0.0');
    assert.equal(second.cacheFile, first.cacheFile);
    assert.equal(second.save(), false, 'an accepted cache is not rewritten');
    assert.deepEqual(second.exports, first.exports);
  });

  it('keeps one cache a command', () => {
    const { file, cache } = fixture(MODULE);
    runWithCodeCache(file, cache, 'inspect', '1.0.0').save();
    runWithCodeCache(file, cache, 'map', '1.0.0').save();
    assert.deepEqual(
      readdirSync(cache)
        .map((f) => f.replace(/^.*-/, ''))
        .sort(),
      ['inspect.v8cache', 'map.v8cache'],
    );
  });

  it("does not use another bundle's cache, and removes it when writing its own", () => {
    const { file, cache } = fixture(MODULE);
    const old = runWithCodeCache(file, cache, 'inspect', '1.0.0');
    old.save();
    // Same length, other bytes, other time: a rebuild.
    writeFileSync(file, MODULE.replace('x * 2', 'x + x'));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const rebuilt = runWithCodeCache(file, cache, 'inspect', '1.0.0');
    assert.notEqual(rebuilt.cacheFile, old.cacheFile);
    assert.equal(rebuilt.accepted, false);
    assert.equal((rebuilt.exports as { value: number }).value, 42);
    rebuilt.save();
    assert.deepEqual(readdirSync(cache), [rebuilt.cacheFile?.split('/').pop()]);
  });

  it('another release is another bundle, even with the same bytes and time (npm stamps one time)', () => {
    const { file } = fixture(MODULE);
    assert.notEqual(bundleIdOf(file, '1.0.0'), bundleIdOf(file, '1.0.1'));
    assert.equal(bundleIdOf(file, '1.0.0'), bundleIdOf(file, '1.0.0'));
  });

  it('runs without a cache when the folder cannot be made, or caching is off', () => {
    const { file, cache } = fixture(MODULE);
    writeFileSync(cache, 'a file where the folder should be');
    const blocked = runWithCodeCache(file, cache, 'inspect', '1.0.0');
    assert.equal((blocked.exports as { value: number }).value, 42);
    assert.equal(blocked.save(), false);
    const off = runWithCodeCache(file, null, 'inspect', '1.0.0');
    assert.equal(off.cacheFile, null);
    assert.equal(off.save(), false);
    assert.equal((off.exports as { value: number }).value, 42);
  });

  it("a module's error reaches the caller with the module's file in its stack", () => {
    const { file, cache } = fixture('throw new Error("boom");\n');
    assert.throws(
      () => runWithCodeCache(file, cache, 'inspect', '1.0.0'),
      (e: Error) => e.message === 'boom' && (e.stack ?? '').includes(file),
    );
  });
});

describe('defaultCacheDir and commandTag', () => {
  it('is off with LORA_LENS_NO_CODE_CACHE=1, moved by LORA_LENS_CACHE_DIR, per user otherwise', () => {
    assert.equal(
      defaultCacheDir({ LORA_LENS_NO_CODE_CACHE: '1', LORA_LENS_CACHE_DIR: '/x' }),
      null,
    );
    assert.equal(defaultCacheDir({ LORA_LENS_CACHE_DIR: '/x/y' }), '/x/y');
    if (process.platform === 'linux')
      assert.equal(
        defaultCacheDir({ XDG_CACHE_HOME: '/home/u/.c' }),
        '/home/u/.c/lora-lens/code-cache',
      );
  });

  it('names a cache by its command, and anything else "other"', () => {
    assert.equal(commandTag(['inspect', 'a.safetensors']), 'inspect');
    assert.equal(commandTag(['map-base', 'x']), 'map-base');
    assert.equal(commandTag(['--help']), 'other');
    assert.equal(commandTag(['../../etc']), 'other');
    assert.equal(commandTag([]), 'other');
  });
});

/** Bundles src/boot/<name>.ts as esbuild.js does. */
async function bundleBoot(name: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [`src/boot/${name}.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'silent',
    define: { LORA_LENS_VERSION: '"9.9.9"' },
  });
}

describe("the extension's main (src/boot/extension.ts, bundled as the build bundles it)", () => {
  it('hands over the exports of extensionMain.js beside it, and writes its cache at exit', async () => {
    const dir = join(root, 'ext');
    mkdirSync(dir);
    await bundleBoot('extension', join(dir, 'extension.js'));
    writeFileSync(
      join(dir, 'extensionMain.js'),
      'exports.activate = () => "activated in " + require("node:path").basename(__dirname);\n',
    );
    const cache = join(dir, 'cache');
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `process.stdout.write(require(${JSON.stringify(join(dir, 'extension.js'))}).activate())`,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, LORA_LENS_CACHE_DIR: cache, LORA_LENS_NO_CODE_CACHE: '' },
      },
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'activated in ext');
    assert.equal(r.status, 0, 'the save timer does not keep the process alive');
    assert.deepEqual(
      readdirSync(cache).map((f) => f.replace(/^.*-/, '')),
      ['extension.v8cache'],
    );
  });
});

describe('the lora-lens executable (src/boot/cli.ts, bundled as the build bundles it)', () => {
  const dir = join(root, 'bin');
  const cache = join(dir, 'cache');
  before(async () => {
    mkdirSync(dir);
    await bundleBoot('cli', join(dir, 'cli.js'));
    writeFileSync(
      join(dir, 'cliMain.js'),
      'process.stdout.write(JSON.stringify(process.argv.slice(2))); process.exitCode = 3;\n',
    );
  });
  const run = () =>
    spawnSync(process.execPath, [join(dir, 'cli.js'), 'inspect', 'x y'], {
      encoding: 'utf8',
      env: { ...process.env, LORA_LENS_CACHE_DIR: cache, LORA_LENS_NO_CODE_CACHE: '' },
    });
  const cacheFile = (): string => {
    const files = readdirSync(cache);
    assert.equal(files.length, 1);
    assert.ok(files[0]?.endsWith('-inspect.v8cache'));
    return join(cache, files[0] ?? '');
  };

  it('runs cliMain.js beside it with the arguments, writing its cache on the first run and using it after', () => {
    const first = run();
    assert.equal(first.stdout, '["inspect","x y"]');
    assert.equal(first.status, 3, "the exit code is the command's");
    const before = statSync(cacheFile()).mtimeMs;
    const second = run();
    assert.equal(second.stdout, '["inspect","x y"]');
    assert.equal(second.status, 3);
    assert.equal(statSync(cacheFile()).mtimeMs, before, 'the cache was taken, not rewritten');
  });

  it('a damaged cache is rejected, compiled around and rewritten', () => {
    run();
    const path = cacheFile();
    const size = statSync(path).size;
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    const damaged = run();
    assert.equal(damaged.stdout, '["inspect","x y"]');
    assert.equal(damaged.status, 3);
    assert.equal(statSync(cacheFile()).size, size, 'rewritten whole');
  });
});
