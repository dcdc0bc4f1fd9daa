import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseHubRef } from '../formats/hub.js';

/**
 * Every local file an export must never write over: the sources themselves, every file of a source
 * folder, and the adapter_config.json beside a source file.
 */
export async function sourceFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (parseHubRef(p)) continue;
    const full = resolve(p);
    out.push(full);
    const info = await stat(full).catch(() => undefined);
    if (info?.isDirectory())
      for (const name of await readdir(full).catch(() => [] as string[]))
        out.push(join(full, name));
    else out.push(join(dirname(full), 'adapter_config.json'));
  }
  return out;
}
