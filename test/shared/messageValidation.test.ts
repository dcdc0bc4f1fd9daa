/**
 * The webview boundary: every request the webview really sends passes; every field broken in every
 * way a structured clone can break it is refused with the field named; nothing throws.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHostMessage,
  checkRequest,
  declaredFields,
  LIMITS,
  REQUEST_METHODS,
} from '../../src/shared/messageValidation.js';
import { VALID_PARAMS } from './validMessages.js';

const request = (method: string, params: unknown, id: unknown = 1) => ({
  kind: 'request',
  id,
  method,
  params,
});

/** Values no declared field accepts as is. */
const HOSTILE: readonly unknown[] = [
  NaN,
  Infinity,
  -1,
  1.5,
  2 ** 53,
  10n,
  'x'.repeat(LIMITS.maxCopyText + 1),
  { nested: true },
  [1],
  new Map([[1, 2]]),
  new Date(0),
  Symbol('s'),
  () => 0,
];

describe('checkRequest', () => {
  it('passes every method with the params the webview sends', () => {
    for (const method of REQUEST_METHODS) {
      const r = checkRequest(request(method, VALID_PARAMS[method]));
      assert.ok(r.ok, `${method}: ${r.ok ? '' : r.error.message}`);
    }
  });

  it('refuses every declared field given a hostile value, naming the field', () => {
    for (const method of REQUEST_METHODS)
      for (const field of declaredFields(method)) {
        const name = field.replace(/\?$/, '');
        for (const bad of HOSTILE) {
          const r = checkRequest(request(method, { ...VALID_PARAMS[method], [name]: bad }));
          assert.ok(!r.ok, `${method}.${name} accepted ${String(typeof bad)}`);
          assert.equal(r.id, 1);
          assert.match(r.error.message, new RegExp(`^${method}: "${name}"`));
        }
      }
  });

  it('refuses missing required fields and unknown extra ones', () => {
    const missing = checkRequest(request('rows', { start: 0 }));
    assert.ok(!missing.ok && /"count" is missing/.test(missing.error.message));
    const extra = checkRequest(request('ready', { evil: 1 }));
    assert.ok(!extra.ok && /unknown field "evil"/.test(extra.error.message));
    const proto = checkRequest(request('ready', JSON.parse('{"__proto__": {"polluted": 1}}')));
    assert.ok(!proto.ok);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('bounds the work one request may ask for', () => {
    const r = checkRequest(request('rows', { start: 0, count: LIMITS.maxRowsPerRequest + 1 }));
    assert.ok(!r.ok);
    const long = checkRequest(request('setQuery', { query: 'q'.repeat(LIMITS.maxNameLength + 1) }));
    assert.ok(!long.ok && /over 65536 characters/.test(long.error.message));
  });

  it("bounds the Mapping table's paging, filter and selection", () => {
    assert.ok(checkRequest(request('mappingRows', { start: 0, count: 100 })).ok);
    const many = checkRequest(
      request('mappingRows', { start: 0, count: LIMITS.maxRowsPerRequest + 1 }),
    );
    assert.ok(!many.ok && /^mappingRows: "count"/.test(many.error.message));
    const negative = checkRequest(request('mappingRows', { start: -1, count: 10 }));
    assert.ok(!negative.ok && /^mappingRows: "start"/.test(negative.error.message));
    const fraction = checkRequest(request('mappingSelect', { index: 1.5 }));
    assert.ok(!fraction.ok && /^mappingSelect: "index"/.test(fraction.error.message));
    const far = checkRequest(request('mappingSelect', { index: LIMITS.maxIndex + 1 }));
    assert.ok(!far.ok);
    const long = checkRequest(
      request('mappingQuery', { query: 'q'.repeat(LIMITS.maxNameLength + 1) }),
    );
    assert.ok(!long.ok && /^mappingQuery: "query" is over/.test(long.error.message));
    const notText = checkRequest(request('mappingQuery', { query: 3 }));
    assert.ok(!notText.ok);
    const extra = checkRequest(request('mappingTable', { all: true }));
    assert.ok(!extra.ok && /unknown field "all"/.test(extra.error.message));
  });

  it('refuses bad envelopes; answers by id only when the id is usable', () => {
    for (const v of [null, 1, 'x', [], new Map(), { kind: 'response', id: 1 }])
      assert.deepEqual(checkRequest(v).ok, false);
    const noId = checkRequest(request('ready', {}, -1));
    assert.ok(!noId.ok && noId.id === null);
    const unknown = checkRequest(request('deleteEverything', {}));
    assert.ok(!unknown.ok && unknown.id === 1 && /unknown method/.test(unknown.error.message));
    const inherited = checkRequest(request('toString', {}));
    assert.ok(!inherited.ok, 'an Object.prototype name is not a method');
  });
});

describe('checkHostMessage', () => {
  it('passes responses and known notifications, refuses the rest', () => {
    assert.ok(checkHostMessage({ kind: 'response', id: 3, result: { any: 'thing' } }));
    assert.deepEqual(
      checkHostMessage({ kind: 'response', id: 3, error: { code: 'X', message: 'm', extra: 1 } }),
      {
        kind: 'response',
        id: 3,
        error: { code: 'X', message: 'm' },
      },
    );
    assert.ok(checkHostMessage({ kind: 'notification', method: 'reload', params: {} }));
    for (const bad of [
      { kind: 'response', id: 'a' },
      { kind: 'response', id: 1, error: 'boom' },
      { kind: 'notification', method: 'constructor', params: {} },
      { kind: 'notification', method: 'reload', params: null },
      { kind: 'request', id: 1, method: 'ready', params: {} },
    ])
      assert.equal(checkHostMessage(bad), null, JSON.stringify(bad));
  });
});
