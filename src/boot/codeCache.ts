/**
 * Runs a bundle (the CLI's, the extension's) through a V8 code cache, so a run after the first
 * skips compiling it.
 *
 * Why: `lora-lens inspect` is a short process, and most of its own time is V8 compiling the ~1 MB
 * bundle and then, lazily, each function it calls; the extension compiles its bundle on the first
 * open of a window. A cache made at the end of a run (after those
 * functions ran) holds their bytecode too, so the next run of the same command compiles almost nothing.
 * Node 22 has `module.enableCompileCache()`; Node 20, which this project supports, does not.
 *
 * The cache is one file per bundle, Node and command (`<bundle id>-<node id>-<command>.v8cache`) in a
 * per-user folder (created 0700; a file owned by someone else is not read). Any failure here (no
 * folder, no permission, a rejected cache) only means compiling as usual; the command's own output
 * and exit code never depend on it. Writes are atomic (temp file + rename), and writing a new bundle's
 * cache removes the old bundles' files. `LORA_LENS_NO_CODE_CACHE=1` turns it off;
 * `LORA_LENS_CACHE_DIR` moves it.
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

const SUFFIX = '.v8cache';

/** Where the cache lives by default: the platform's per-user cache folder. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.LORA_LENS_NO_CODE_CACHE === '1') return null;
  if (env.LORA_LENS_CACHE_DIR) return env.LORA_LENS_CACHE_DIR;
  let base: string | undefined;
  if (process.platform === 'win32') base = env.LOCALAPPDATA;
  else if (process.platform === 'darwin') base = join(homedir(), 'Library', 'Caches');
  else base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return base ? join(base, 'lora-lens', 'code-cache') : null;
}

/** The command a cache file is for: the first argument when it is a plain word, else "other". */
export function commandTag(args: readonly string[]): string {
  const first = args[0] ?? '';
  return /^[a-z][a-z-]{0,31}$/.test(first) ? first : 'other';
}

/** The cache's bytes, or undefined when there is none, it cannot be read, or it is not ours. */
function readOwned(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `data` as `dir/name` (temp + rename), then removes other bundles' cache files. */
function writeCache(dir: string, name: string, bundleId: string, data: Buffer): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${name}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, data, { mode: 0o600 });
    renameSync(temp, join(dir, name));
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  for (const f of readdirSync(dir))
    if (f.endsWith(SUFFIX) && !f.startsWith(`${bundleId}-`)) rmSync(join(dir, f), { force: true });
}

/** A 32-bit FNV-1a hash of a short string, in base 36 (no `node:crypto`: loading it costs ~5 ms). */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

/**
 * Which bundle this is: the release, the file's size and its modification time. V8 checks only the
 * source's length, so a cache must never outlive the bytes it was made from: a rebuild changes the
 * time, and npm (which stamps every file with one fixed time) installs another release under another
 * version. Hashing the bytes would cost more than the rest of the loader.
 */
export function bundleIdOf(file: string, release: string): string {
  const st = statSync(file);
  return shortHash(`${release} ${st.size} ${st.mtimeMs} ${st.ino}`) + st.size.toString(36);
}

/** Which Node: its version, architecture and V8 flags (V8 rejects a cache made under others). */
function nodeId(): string {
  return shortHash(`${process.version} ${process.arch} ${process.execArgv.join(' ')}`);
}

export interface CodeCacheRun {
  /** The module's exports. */
  exports: unknown;
  /** The cache file used or to be written; null when caching is off. */
  cacheFile: string | null;
  /** Whether V8 took the cache: false when there was none or it was rejected (then it is rewritten at exit). */
  accepted: boolean;
  /** Writes the cache now (once) if it is due; otherwise it is written at exit. False if nothing was written. */
  save(): boolean;
}

/**
 * Runs the CommonJS file `file` as a module (as `require` would), through the code cache in
 * `cacheDir` for the command `tag` of release `release`. With `cacheDir` null it compiles as usual.
 */
export function runWithCodeCache(
  file: string,
  cacheDir: string | null,
  tag: string,
  release: string,
): CodeCacheRun {
  const source = readFileSync(file, 'utf8');
  let cacheFile: string | null = null;
  let cachedData: Buffer | undefined;
  let bundleId = '';
  let name = '';
  if (cacheDir !== null) {
    try {
      bundleId = bundleIdOf(file, release);
      name = `${bundleId}-${nodeId()}-${tag}${SUFFIX}`;
      cacheFile = join(cacheDir, name);
      cachedData = readOwned(cacheFile);
    } catch {
      cacheFile = null;
    }
  }
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    // `import()` as in any module (Node ≥ 20.12; older ones have no such constant and no `import()` here).
    importModuleDynamically: (vm.constants as typeof vm.constants | undefined)
      ?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const accepted = cachedData !== undefined && !script.cachedDataRejected;
  let due = cacheFile !== null && !accepted;
  const save = (): boolean => {
    if (!due || cacheFile === null) return false;
    due = false;
    try {
      writeCache(dirname(cacheFile), name, bundleId, script.createCachedData());
      return true;
    } catch {
      // A cache that cannot be written costs the next run its compile time, nothing else.
      return false;
    }
  };
  // At exit, so the cache holds every function this command compiled, not just the top level.
  if (due) process.once('exit', save);
  const mod = new Module(file);
  mod.filename = file;
  const wrapper = script.runInThisContext({ displayErrors: true }) as (
    exports: unknown,
    require: NodeJS.Require,
    module: Module,
    filename: string,
    dirname: string,
  ) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  mod.loaded = true;
  return { exports: mod.exports, cacheFile, accepted, save };
}
