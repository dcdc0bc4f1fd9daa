/**
 * Decides, read by read, whether a copy may read synchronously. A read from the page cache costs far
 * less than its hop through libuv's thread pool, so a copy of cached bytes reads in place; it gives
 * the event loop a turn every few milliseconds, so the extension host stays responsive. The first
 * read that shows the bytes are coming from the disk (slower than the cache could be) switches the
 * rest of the copy to asynchronous reads, so a slow disk never blocks the thread.
 */
export class ReadPacer {
  private syncAllowed = true;
  private sliceStart = performance.now();

  constructor(
    /** Longest stretch of synchronous work before the event loop gets a turn. */
    private readonly sliceMs = 8,
    /** A synchronous read slower than this is not being served from memory. */
    private readonly slowReadMs = 4,
  ) {}

  /** Whether the next read may be synchronous. */
  get sync(): boolean {
    return this.syncAllowed;
  }

  /** Runs one synchronous read and times it. */
  read<T>(readNow: () => T): T {
    const start = performance.now();
    const result = readNow();
    if (performance.now() - start > this.slowReadMs) this.syncAllowed = false;
    return result;
  }

  /** Gives the event loop a turn once the current stretch of synchronous work is long enough. */
  async pace(): Promise<void> {
    if (performance.now() - this.sliceStart < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }
}
