import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IoPacer } from '../../../src/core/export/ioPacer.js';

/** Busy-waits, so a "read" takes a known minimum time. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // waiting on purpose
  }
}

describe('I/O pacer', () => {
  it('keeps reading in place while reads are fast', () => {
    const pacer = new IoPacer(8, 50);
    for (let i = 0; i < 20; i++)
      assert.equal(
        pacer.run(() => i),
        i,
      );
    assert.equal(pacer.sync, true);
  });

  it('switches to the thread pool after one slow read, for good', () => {
    const pacer = new IoPacer(8, 2);
    pacer.run(() => spin(5));
    assert.equal(pacer.sync, false);
    pacer.run(() => 0);
    assert.equal(pacer.sync, false);
  });

  it('gives the event loop a turn once a stretch of work is long enough, not before', async () => {
    const pacer = new IoPacer(20, 50);
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    await pacer.pace();
    assert.equal(ran, false, 'no turn before the slice is used up');
    spin(25);
    await pacer.pace();
    assert.equal(ran, true, 'a turn once it is');
  });
});
