import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PagedRows } from '../../webview/ui/pagedRows.js';

function list(version = 1) {
  const asked: number[] = [];
  const pages = new PagedRows<number>(
    10,
    async (start, count) => {
      asked.push(start);
      return { version, rows: Array.from({ length: count }, (_, i) => start + i) };
    },
    () => version,
    () => undefined,
  );
  return { pages, asked };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('paged rows', () => {
  it('asks for nothing while no rows are in view', async () => {
    const { pages, asked } = list();
    pages.ensure(0, 0);
    await settle();
    assert.deepEqual(
      asked,
      [],
      'an empty list (or one still waiting for its state) fetches no page',
    );
  });

  it('asks once per page in view, and serves the rows', async () => {
    const { pages, asked } = list();
    pages.ensure(5, 25);
    pages.ensure(5, 25);
    await settle();
    assert.deepEqual(asked, [0, 10, 20]);
    assert.equal(pages.rowAt(17), 17);
    assert.equal(pages.rowAt(35), undefined);
  });

  it('takes a first page that came with a new state, and does not ask for it again', async () => {
    const { pages, asked } = list();
    pages.seed(
      0,
      Array.from({ length: 10 }, (_, i) => 100 + i),
    );
    pages.ensure(0, 15);
    await settle();
    assert.deepEqual(asked, [10], 'only the page that did not come along');
    assert.equal(pages.rowAt(3), 103);
    // A list shorter than a page: its only page, short.
    const short = list();
    short.pages.seed(0, [7, 8]);
    short.pages.ensure(0, 2);
    await settle();
    assert.deepEqual(short.asked, []);
    assert.equal(short.pages.rowAt(1), 8);
  });
});
