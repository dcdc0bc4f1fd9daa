import { STATS_VERSION, type ModuleStats } from './types.js';

/** What identifies one version of a file: any change to size or mtime is a new file. */
export interface FileIdentity {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The cache key of a file: a caller's own string (a header hash, a URI + etag) or path/size/mtime. */
export function fileKey(id: FileIdentity | string): string {
  return typeof id === 'string' ? id : `${id.path}|${id.size}|${id.mtimeMs}`;
}

/** What `save` receives and `load` should give back: plain JSON. */
export interface StatsCacheData {
  readonly version: number;
  readonly entries: readonly { file: string; module: string; stats: ModuleStats }[];
}

/** Where the extension keeps the cache between sessions (workspaceState, a JSON file, …). */
export interface StatsPersistence {
  load(): unknown;
  save(data: StatsCacheData): unknown;
}

export interface StatsCacheOptions {
  /**
   * Modules kept (default 5 000). An entry is ~1 KB of JSON, ~3 KB with a rank-128 spectrum; the
   * least recently used go first.
   */
  readonly maxEntries?: number;
  readonly persistence?: StatsPersistence;
}

interface Entry {
  readonly file: string;
  readonly module: string;
  readonly stats: ModuleStats;
}

/** Per-file, per-module stats in an in-memory LRU (a Map keeps insertion order: oldest first). */
export class StatsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;

  constructor(private readonly options: StatsCacheOptions = {}) {
    this.max = Math.max(1, options.maxEntries ?? 5_000);
  }

  get size(): number {
    return this.entries.size;
  }

  get(file: string, module: string): ModuleStats | undefined {
    const key = keyOf(file, module);
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.stats;
  }

  set(file: string, module: string, stats: ModuleStats): void {
    const key = keyOf(file, module);
    this.entries.delete(key);
    this.entries.set(key, { file, module, stats });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** Forgets one file (it changed on disk) or everything. */
  clear(file?: string): void {
    if (file === undefined) this.entries.clear();
    else for (const [k, e] of this.entries) if (e.file === file) this.entries.delete(k);
  }

  toJSON(): StatsCacheData {
    return { version: STATS_VERSION, entries: [...this.entries.values()] };
  }

  /** Adds what persistence holds; data of another STATS_VERSION or shape is ignored. */
  async load(): Promise<void> {
    const data = (await this.options.persistence?.load()) as Partial<StatsCacheData> | undefined;
    if (!data || data.version !== STATS_VERSION || !Array.isArray(data.entries)) return;
    // Loaded entries go in as the oldest: what is in memory now stays the most recent.
    const current = [...this.entries.values()];
    this.entries.clear();
    for (const e of data.entries as unknown[]) if (isEntry(e)) this.set(e.file, e.module, e.stats);
    for (const e of current) this.set(e.file, e.module, e.stats);
  }

  async save(): Promise<void> {
    await this.options.persistence?.save(this.toJSON());
  }
}

const keyOf = (file: string, module: string): string => `${file}\u0000${module}`;

function isEntry(e: unknown): e is Entry {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  const stats = o['stats'] as Record<string, unknown> | null | undefined;
  return (
    typeof o['file'] === 'string' &&
    typeof o['module'] === 'string' &&
    typeof stats === 'object' &&
    stats !== null &&
    stats['module'] === o['module']
  );
}
