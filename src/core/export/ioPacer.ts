/**
 * Decides, step by step, whether a copy may read and write synchronously. A read from the page cache
 * (or a write into it) costs far less than its hop through libuv's thread pool, so a copy of cached
 * bytes does its I/O in place; it gives the event loop a turn every few milliseconds, so the
 * extension host stays responsive. The first step that shows the disk is involved (slower than
 * memory could be: a cold read, a write held back by dirty-page throttling) switches the rest of
 * the copy to the thread pool, so a slow disk never blocks the thread.
 */
export class IoPacer {
  private syncAllowed: boolean;
  private sliceStart = performance.now();

  constructor(
    /** Longest stretch of synchronous work before the event loop gets a turn. */
    private readonly sliceMs = 8,
    /** A synchronous step slower than this is not being served from memory. */
    private readonly slowStepMs = 4,
    /** false: every step through the thread pool from the start (tests of that path). */
    startInPlace = true,
  ) {
    this.syncAllowed = startInPlace;
  }

  /** Whether the next read or write may be synchronous. */
  get sync(): boolean {
    return this.syncAllowed;
  }

  /** Runs one synchronous read or write and times it. */
  run<T>(step: () => T): T {
    const start = performance.now();
    const result = step();
    if (performance.now() - start > this.slowStepMs) this.syncAllowed = false;
    return result;
  }

  /** Gives the event loop a turn once the current stretch of synchronous work is long enough. */
  async pace(): Promise<void> {
    if (performance.now() - this.sliceStart < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }
}
