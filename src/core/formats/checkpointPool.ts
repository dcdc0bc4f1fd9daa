/**
 * Reference-counted cache of open checkpoints (or anything with `close()`), keyed by a reference such as
 * a path or `hf:` repo. Holders `acquire` a lease and `release` it; one open is shared by every holder of
 * a key. A key nobody holds stays open for a short grace period (so switching back and forth does not
 * reopen it), and only the most recently released few stay idle at all; then it is closed and dropped.
 * A failed open is never cached. No vscode here: the extension's BaseModels wraps it.
 */

export interface Closable {
  close(): Promise<void> | void;
}

/** One holder's claim on an open value. `release` is idempotent. */
export interface Lease<T> {
  readonly key: string;
  readonly value: T;
  release(): void;
}

export interface PoolOptions {
  /** How long an unheld value stays open before it is closed (ms). Default 30 000. */
  readonly graceMs?: number;
  /** At most this many unheld values stay open at once; older ones close at once. Default 2. */
  readonly maxIdle?: number;
  /** Runs `fn` after `ms`; returns a cancel. Default: an unref'd setTimeout (tests inject their own). */
  readonly schedule?: (fn: () => void, ms: number) => () => void;
  /** A close that failed (logged by the caller; the entry is dropped anyway). */
  readonly onCloseError?: (key: string, error: unknown) => void;
}

interface Entry<T> {
  readonly key: string;
  readonly value: Promise<T>;
  holders: number;
  /** Cancels the grace timer while the entry is idle. */
  cancel: (() => void) | undefined;
  closed: boolean;
}

function defaultSchedule(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return () => clearTimeout(t);
}

export class CheckpointPool<T extends Closable> {
  /** What a new acquire of a key shares. */
  private readonly byKey = new Map<string, Entry<T>>();
  /** Every entry not yet closed, including ones `invalidate` took out of `byKey` that are still held. */
  private readonly live = new Set<Entry<T>>();
  /** Unheld entries, oldest release first. */
  private readonly idle: Entry<T>[] = [];
  private readonly graceMs: number;
  private readonly maxIdle: number;
  private readonly schedule: (fn: () => void, ms: number) => () => void;
  private disposed = false;

  constructor(
    private readonly openValue: (key: string) => Promise<T>,
    private readonly options: PoolOptions = {},
  ) {
    this.graceMs = options.graceMs ?? 30_000;
    this.maxIdle = Math.max(0, options.maxIdle ?? 2);
    this.schedule = options.schedule ?? defaultSchedule;
  }

  /** Opens `key` (once while it is held or idle) and returns a lease on it. */
  async acquire(key: string): Promise<Lease<T>> {
    if (this.disposed) throw new Error('checkpoint pool is closed');
    let entry = this.byKey.get(key);
    if (entry) this.unidle(entry);
    else {
      const created: Entry<T> = {
        key,
        value: this.openValue(key),
        holders: 0,
        cancel: undefined,
        closed: false,
      };
      entry = created;
      this.byKey.set(key, created);
      this.live.add(created);
      // A failed open is not cached: the next acquire tries again.
      created.value.catch(() => {
        created.closed = true;
        this.live.delete(created);
        if (this.byKey.get(key) === created) this.byKey.delete(key);
      });
    }
    entry.holders++;
    let value: T;
    try {
      value = await entry.value;
    } catch (e) {
      entry.holders--;
      throw e;
    }
    // The pool was closed while this open was under way: the value is closed already.
    if (entry.closed) throw new Error('checkpoint pool is closed');
    const held = entry;
    let released = false;
    return {
      key,
      value,
      release: () => {
        if (released) return;
        released = true;
        this.release(held);
      },
    };
  }

  /** One-shot use: acquire, run `fn`, release (the grace period still applies). */
  async use<R>(key: string, fn: (value: T) => R | Promise<R>): Promise<R> {
    const lease = await this.acquire(key);
    try {
      return await fn(lease.value);
    } finally {
      lease.release();
    }
  }

  /** How many leases on `key` are out (0 for an idle or unknown key). */
  holders(key: string): number {
    return this.byKey.get(key)?.holders ?? 0;
  }

  /** Whether a new acquire of `key` would share an open (or opening) value. */
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Values open now (held, idle, or held after `invalidate`). */
  get openCount(): number {
    return this.live.size;
  }

  /**
   * Later acquires open afresh (e.g. the Hub token changed). Idle values close now; held ones close
   * when their last holder releases them.
   */
  invalidate(): void {
    this.byKey.clear();
    for (const e of this.idle.splice(0)) this.closeEntry(e);
  }

  /** Closes everything, held or not; later acquires fail, later releases do nothing. */
  async close(): Promise<void> {
    this.disposed = true;
    this.byKey.clear();
    this.idle.splice(0);
    await Promise.all([...this.live].map((e) => this.closeEntry(e)));
  }

  private release(entry: Entry<T>): void {
    if (entry.closed || entry.holders <= 0) return;
    entry.holders--;
    if (entry.holders > 0) return;
    if (this.byKey.get(entry.key) !== entry || this.maxIdle === 0 || this.graceMs <= 0) {
      void this.closeEntry(entry);
      return;
    }
    this.idle.push(entry);
    entry.cancel = this.schedule(() => {
      entry.cancel = undefined;
      if (entry.holders === 0) void this.closeEntry(entry);
    }, this.graceMs);
    while (this.idle.length > this.maxIdle) void this.closeEntry(this.idle[0] as Entry<T>);
  }

  private unidle(entry: Entry<T>): void {
    entry.cancel?.();
    entry.cancel = undefined;
    const i = this.idle.indexOf(entry);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private async closeEntry(entry: Entry<T>): Promise<void> {
    if (entry.closed) return;
    entry.closed = true;
    this.unidle(entry);
    this.live.delete(entry);
    if (this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
    let value: T;
    try {
      value = await entry.value;
    } catch {
      return; // a failed open: nothing to close
    }
    try {
      await value.close();
    } catch (e) {
      this.options.onCloseError?.(entry.key, e);
    }
  }
}
