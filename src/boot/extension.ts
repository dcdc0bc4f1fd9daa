/**
 * The extension's main (dist/extension.js): runs the extension bundle (dist/extensionMain.js, from
 * src/extension/extension.ts) through a V8 code cache and hands VS Code its exports. Activation
 * comes with the first open of a checkpoint, so compiling the bundle is part of that first open.
 */
import { join } from 'node:path';
import { defaultCacheDir, runWithCodeCache } from './codeCache.js';

declare const LORA_LENS_VERSION: string;

/** Long enough for the first open to have compiled what opening needs. */
const SAVE_AFTER_MS = 15_000;

const run = runWithCodeCache(
  join(__dirname, 'extensionMain.js'),
  defaultCacheDir(),
  'extension',
  typeof LORA_LENS_VERSION === 'string' ? LORA_LENS_VERSION : 'dev',
);
// The extension host is often killed with its window, not exited: save once it has done the work of
// a first open, as well as at exit.
setTimeout(() => run.save(), SAVE_AFTER_MS).unref();

module.exports = run.exports;
