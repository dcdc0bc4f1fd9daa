/**
 * The `lora-lens` executable (dist/cli.js): runs the CLI bundle (dist/cliMain.js, from
 * src/cli/index.ts) through a V8 code cache. Kept apart and tiny, so that only this file is compiled
 * on every run.
 */
import { join } from 'node:path';
import { commandTag, defaultCacheDir, runWithCodeCache } from './codeCache.js';

declare const LORA_LENS_VERSION: string;

runWithCodeCache(
  join(__dirname, 'cliMain.js'),
  defaultCacheDir(),
  commandTag(process.argv.slice(2)),
  typeof LORA_LENS_VERSION === 'string' ? LORA_LENS_VERSION : 'dev',
);
