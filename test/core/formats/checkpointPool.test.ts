import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointPool, type PoolOptions } from '../../../src/core/formats/checkpointPool.js';

class Fake {
  closed = 0;
  constructor(readonly key: string) {}
  close(): void {
    this.closed++;
  }
}

/** A pool over fakes, with a hand-driven clock: `tick()` fires every pending grace timer. */
function setup(options: PoolOptions = {}, fail: (key: string, n: number) => boolean = () => false) {
  const opened: Fake[] = [];
  const opens = new Map<string, number>();
  let timers: { fn: () => void; ms: number; live: boolean }[] = [];
  const pool = new CheckpointPool<Fake>(
    async (key) => {
      const n = (opens.get(key) ?? 0) + 1;
      opens.set(key, n);
      await Promise.resolve();
      if (fail(key, n)) throw new Error(`cannot open ${key}`);
      const f = new Fake(key);
      opened.push(f);
      return f;
    },
    {
      schedule: (fn, ms) => {
        const t = { fn, ms, live: true };
        timers.push(t);
        return () => (t.live = false);
      },
      ...options,
    },
  );
  const tick = async () => {
    const due = timers.filter((t) => t.live);
    timers = [];
    for (const t of due) t.fn();
    await new Promise((r) => setImmediate(r));
  };
  const settle = () => new Promise((r) => setImmediate(r));
  return { pool, opened, opens, tick, settle, pending: () => timers.filter((t) => t.live) };
}

describe('CheckpointPool', () => {
  it('counts holders and shares one open per key', async () => {
    const { pool, opens } = setup();
    const a = await pool.acquire('a');
    const b = await pool.acquire('a');
    assert.equal(a.value, b.value);
    assert.equal(pool.holders('a'), 2);
    assert.equal(opens.get('a'), 1);
    a.release();
    assert.equal(pool.holders('a'), 1);
    assert.equal(a.value.closed, 0);
    b.release();
    assert.equal(pool.holders('a'), 0);
  });

  it('shares one open between concurrent acquires of a key', async () => {
    const { pool, opens } = setup();
    const [a, b, c] = await Promise.all([pool.acquire('k'), pool.acquire('k'), pool.acquire('k')]);
    assert.equal(opens.get('k'), 1);
    assert.ok(a.value === b.value && b.value === c.value);
    assert.equal(pool.holders('k'), 3);
  });

  it('closes on the last release after the grace period, then reopens', async () => {
    const { pool, opens, tick, settle, pending } = setup({ graceMs: 5000 });
    const a = await pool.acquire('a');
    a.release();
    await settle();
    assert.equal(a.value.closed, 0, 'kept open during the grace period');
    assert.equal(pending()[0]?.ms, 5000);
    // Acquiring again within the grace period reuses it and cancels the close.
    const again = await pool.acquire('a');
    assert.equal(again.value, a.value);
    assert.equal(opens.get('a'), 1);
    await tick();
    assert.equal(a.value.closed, 0);
    again.release();
    await tick();
    assert.equal(a.value.closed, 1);
    assert.equal(pool.has('a'), false);
    assert.equal(pool.openCount, 0);
    const reopened = await pool.acquire('a');
    assert.notEqual(reopened.value, a.value);
    assert.equal(opens.get('a'), 2);
  });

  it('keeps only the most recently released few idle', async () => {
    const { pool, settle } = setup({ maxIdle: 2 });
    const leases = await Promise.all(['a', 'b', 'c'].map((k) => pool.acquire(k)));
    for (const l of leases) l.release();
    await settle();
    assert.deepEqual(
      leases.map((l) => l.value.closed),
      [1, 0, 0],
    );
    assert.equal(pool.openCount, 2);
  });

  it('closes at once with no grace', async () => {
    const { pool, settle } = setup({ graceMs: 0 });
    const a = await pool.acquire('a');
    a.release();
    await settle();
    assert.equal(a.value.closed, 1);
    assert.equal(pool.has('a'), false);
  });

  it('does not cache a failed open', async () => {
    const { pool, opens } = setup({}, (_key, n) => n === 1);
    await assert.rejects(pool.acquire('x'), /cannot open x/);
    assert.equal(pool.has('x'), false);
    assert.equal(pool.openCount, 0);
    const ok = await pool.acquire('x');
    assert.equal(opens.get('x'), 2);
    assert.equal(pool.holders('x'), 1);
    ok.release();
  });

  it('fails every concurrent acquire of a failed open', async () => {
    const { pool, opens } = setup({}, () => true);
    const all = await Promise.allSettled([pool.acquire('x'), pool.acquire('x')]);
    assert.deepEqual(
      all.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(opens.get('x'), 1);
    assert.equal(pool.holders('x'), 0);
  });

  it('ignores a double release and an unknown one', async () => {
    const { pool, tick } = setup();
    const a = await pool.acquire('a');
    const b = await pool.acquire('a');
    a.release();
    a.release();
    assert.equal(pool.holders('a'), 1, 'a double release takes one hold only');
    await tick();
    assert.equal(b.value.closed, 0);
    b.release();
    await tick();
    assert.equal(b.value.closed, 1);
    b.release();
    a.release();
    assert.equal(b.value.closed, 1);
    assert.equal(pool.holders('nothing'), 0);
  });

  it('use() releases after a one-shot call, even when it throws', async () => {
    const { pool, tick } = setup();
    const n = await pool.use('a', (f) => f.key.length);
    assert.equal(n, 1);
    assert.equal(pool.holders('a'), 0);
    await assert.rejects(
      pool.use('a', () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(pool.holders('a'), 0);
    await tick();
    assert.equal(pool.openCount, 0);
  });

  it('invalidate: new acquires reopen; held values close on their last release', async () => {
    const { pool, opens, settle } = setup();
    const held = await pool.acquire('a');
    const idle = await pool.acquire('b');
    idle.release();
    pool.invalidate();
    await settle();
    assert.equal(idle.value.closed, 1);
    assert.equal(held.value.closed, 0);
    const fresh = await pool.acquire('a');
    assert.notEqual(fresh.value, held.value);
    assert.equal(opens.get('a'), 2);
    held.release();
    await settle();
    assert.equal(held.value.closed, 1);
    assert.equal(fresh.value.closed, 0);
  });

  it('close() closes everything still open, once', async () => {
    const { pool } = setup();
    const held = await pool.acquire('a');
    const idle = await pool.acquire('b');
    idle.release();
    const opening = pool.acquire('c');
    await pool.close();
    assert.equal(held.value.closed, 1);
    assert.equal(idle.value.closed, 1);
    await assert.rejects(opening, /closed/);
    assert.equal(pool.openCount, 0);
    held.release();
    assert.equal(held.value.closed, 1);
    await assert.rejects(pool.acquire('a'), /closed/);
  });
});
