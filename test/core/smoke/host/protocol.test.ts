import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import {
  fromWireError,
  isChildMessage,
  isParentMessage,
  toWireError,
} from '../../../../src/core/smoke/host/protocol.js';
import { SmokeError } from '../../../../src/core/smoke/types.js';

/** Through the wire as `serialization: 'advanced'` would carry it (structured clone). */
function roundTrip(e: unknown): Error {
  return fromWireError(structuredClone(toWireError(e)));
}

describe('smoke host protocol', () => {
  it('rebuilds SmokeError and CheckpointError with their class, code, message and subject', () => {
    const s = roundTrip(new SmokeError('NoExecutionProvider', 'cuda: missing; cpu: broken'));
    assert.ok(s instanceof SmokeError);
    assert.equal(s.code, 'NoExecutionProvider');
    assert.equal(s.message, 'cuda: missing; cpu: broken');

    const c = roundTrip(new CheckpointError('TensorNotFound', 'no tensor "w"', 'w'));
    assert.ok(c instanceof CheckpointError);
    assert.equal(c.code, 'TensorNotFound');
    assert.equal(c.subject, 'w');
    assert.equal(c.message, 'no tensor "w"');
  });

  it('names errno errors as the rest of the product does, and keeps the stack of our bugs', () => {
    const enoent = Object.assign(new Error('ENOENT: no such file'), {
      code: 'ENOENT',
      path: '/nope/adapter.safetensors',
    });
    const c = roundTrip(enoent);
    assert.ok(c instanceof CheckpointError);
    assert.equal(c.code, 'FileNotFound');
    assert.match(c.message, /\/nope\/adapter\.safetensors/);

    const bug = new TypeError('x is undefined');
    const b = roundTrip(bug);
    assert.ok(!(b instanceof SmokeError) && !(b instanceof CheckpointError));
    assert.equal(b.message, 'x is undefined');
    assert.equal(b.stack, bug.stack);
    assert.equal(roundTrip('a string').message, 'a string');
  });

  it('recognises messages by type and id', () => {
    assert.ok(isChildMessage({ type: 'ready', pid: 1, ortVersion: null, ortError: 'x' }));
    assert.ok(isChildMessage({ type: 'result', id: 1, result: {}, usage: {} }));
    assert.ok(!isChildMessage({ type: 'result' }));
    assert.ok(!isChildMessage({ type: 'smoke', id: 1 }));
    assert.ok(!isChildMessage(null));
    assert.ok(isParentMessage({ type: 'cancel', id: 1 }));
    assert.ok(isParentMessage({ type: 'merge', id: 2, request: {} }));
    assert.ok(!isParentMessage({ type: 'ready', id: 1 }));
    assert.ok(!isParentMessage('smoke'));
  });
});
