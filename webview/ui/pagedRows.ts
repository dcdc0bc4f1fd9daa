/**
 * What a windowed list (the tensor tree, the Mapping table) keeps of the host's rows: pages fetched as
 * they come into view, at most one request per page, the oldest pages dropped past a bound. A page
 * answered for an older state version is dropped, so a list never mixes two states.
 */
export class PagedRows<R> {
  private readonly pages = new Map<number, readonly R[]>();
  private readonly inflight = new Set<number>();

  constructor(
    private readonly pageSize: number,
    /** Asks the host for rows [start, start + count) and the state version they belong to. */
    private readonly fetch: (
      start: number,
      count: number,
    ) => Promise<{ readonly version: number; readonly rows: readonly R[] }>,
    /** The list's state version now. */
    private readonly version: () => number,
    /** A page arrived (true) or its request failed (false): time to draw again. */
    private readonly settled: (ok: boolean) => void,
    private readonly maxPages = 200,
  ) {}

  /** Forgets every page (the state changed). */
  clear(): void {
    this.pages.clear();
    this.inflight.clear();
  }

  /**
   * Rows that came with a new state (the first page of a filter), for the state now in force: the
   * host's answer to a request for a whole number of pages from `start`, so a short last slice is the
   * end of the list.
   */
  seed(start: number, rows: readonly R[]): void {
    if (start % this.pageSize !== 0) return;
    for (let at = 0; at < rows.length; at += this.pageSize) {
      const page = (start + at) / this.pageSize;
      const slice = rows.slice(at, at + this.pageSize);
      // Only whole pages, or the list's last one (a short page would hide rows never asked for).
      if (slice.length === this.pageSize || at + slice.length === rows.length)
        this.pages.set(page, slice);
    }
  }

  /** Whether a page is still on its way. */
  get pending(): boolean {
    return this.inflight.size > 0;
  }

  rowAt(index: number): R | undefined {
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** Requests the pages that rows [first, last) need and does not have or wait for yet. */
  ensure(first: number, last: number): void {
    // No rows in view (an empty list, or one whose state has not come yet): nothing to ask for. Asking
    // for page 0 anyway made the host build a large tree that no one had opened.
    if (last <= first) return;
    const version = this.version();
    const lastPage = Math.floor(Math.max(first, last - 1) / this.pageSize);
    for (let page = Math.floor(first / this.pageSize); page <= lastPage; page++) {
      if (this.pages.has(page) || this.inflight.has(page)) continue;
      this.inflight.add(page);
      this.fetch(page * this.pageSize, this.pageSize).then(
        (res) => {
          // After a clear(), this page's marker belongs to a newer request: leave it.
          if (this.version() !== version) return;
          this.inflight.delete(page);
          if (res.version !== version) return;
          this.pages.set(page, res.rows);
          if (this.pages.size > this.maxPages)
            this.pages.delete(this.pages.keys().next().value as number);
          this.settled(true);
        },
        () => {
          this.inflight.delete(page);
          this.settled(false);
        },
      );
    }
  }
}

/** The rows [first, last) a fixed-height list shows at its scroll position, with `overscan` rows either side. */
export function visibleRange(
  viewport: HTMLElement,
  rowHeight: number,
  overscan: number,
  rowCount: number,
): [number, number] {
  const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - overscan);
  const count = Math.ceil(viewport.clientHeight / rowHeight) + 2 * overscan;
  return [first, Math.min(rowCount, first + count)];
}
