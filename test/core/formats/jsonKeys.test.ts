import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findDuplicateKey } from '../../../src/core/formats/jsonKeys.js';

describe('findDuplicateKey', () => {
  it('finds none in clean JSON, including keys inside strings', () => {
    assert.equal(
      findDuplicateKey('{"a":1,"b":{"a":2},"c":["a","a"],"d":"{\\"a\\":1,\\"a\\":2}"}'),
      undefined,
    );
  });
  it('finds duplicates at any depth and names the parent', () => {
    assert.deepEqual(findDuplicateKey('{"a":1,"a":2}'), { key: 'a', parentKey: undefined });
    assert.deepEqual(findDuplicateKey('{"t":{"x":1,"x":2}}'), { key: 'x', parentKey: 't' });
    assert.deepEqual(findDuplicateKey('[{"x":1},{"y":1,"y":2}]')?.key, 'y');
  });
  it('decodes escapes before comparing and handles escaped quotes and backslashes', () => {
    assert.equal(findDuplicateKey('{"ab":1,"a\\u0062":2}')?.key, 'ab');
    assert.equal(findDuplicateKey('{"a\\"":1,"a\\\\":2}'), undefined);
    assert.equal(findDuplicateKey('{"a\\\\":1,"a\\\\":2}')?.key, 'a\\');
  });
  it('does not recurse: deep nesting is fine', () => {
    assert.equal(findDuplicateKey('['.repeat(500_000) + ']'.repeat(500_000)), undefined);
  });
});
