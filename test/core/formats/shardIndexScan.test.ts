import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../../src/core/smoke/reference.js';
import { scanShardIndex, type ScannedIndex } from '../../../src/core/formats/shardIndexScan.js';

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

/** What JSON.parse makes of the text, in the scanner's terms; undefined where JSON.parse throws. */
function viaJson(text: string): { members: Record<string, unknown>; map: unknown } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { members: {}, map: raw };
  const { weight_map: map, ...members } = raw as Record<string, unknown>;
  return { members, map };
}

/** The scanner's result must be exactly what JSON.parse says, wherever it gives one. */
function agree(text: string, scanned: ScannedIndex | undefined): void {
  const json = viaJson(text);
  if (!scanned) return;
  assert.ok(json, `the scanner accepted what JSON.parse rejects: ${text.slice(0, 200)}`);
  const { names, shardOf, files } = scanned.weightMap ?? { names: [], shardOf: [], files: [] };
  if (new Set(names).size !== names.length) return; // the caller falls back to JSON.parse
  if (scanned.weightMap) {
    const map = json.map as Record<string, unknown>;
    const fromScan = names.map((n, i) => [n, files[shardOf[i] as number]]);
    const fromJson = Object.keys(map).map((n) => [n, map[n]]);
    const byName = (a: unknown[], b: unknown[]) => (String(a[0]) < String(b[0]) ? -1 : 1);
    assert.deepEqual(fromScan.sort(byName), fromJson.sort(byName), text.slice(0, 200));
    assert.equal(files.length, new Set(files).size, 'each shard value once');
    assert.deepEqual({ ...scanned.members }, json.members);
  } else {
    // No weight_map object: a weight_map of another kind stays among the members, for the caller.
    const expected =
      json.map === undefined ? json.members : { ...json.members, weight_map: json.map };
    assert.deepEqual({ ...scanned.members }, expected);
  }
}

const NAME_PARTS = [
  'model',
  'layers',
  '0',
  '17',
  'self_attn',
  'q_proj',
  'weight',
  'ÿ',
  'é',
  '中',
  '',
];
const WS = ['', ' ', '\n  ', '\t', '\r\n'];

function randomName(r: () => number): string {
  const n = 1 + Math.floor(r() * 5);
  let s = Array.from({ length: n }, () => pick(r, NAME_PARTS)).join('.');
  if (r() < 0.08) s += pick(r, ['\\"', '\\\\', '\\n', '\\u00e9', '{', '}', ':', ',', '[']);
  return s;
}

function randomValue(r: () => number, depth: number): string {
  const k = r();
  if (depth > 2 || k < 0.3)
    return pick(r, ['1', '-0.5e3', 'true', 'null', '"x"', '"{]"', '12345678']);
  if (k < 0.6) {
    const items = Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth + 1));
    return `[${items.join(',')}]`;
  }
  const members = Array.from(
    { length: Math.floor(r() * 3) },
    () => `"${randomName(r)}"${pick(r, WS)}:${pick(r, WS)}${randomValue(r, depth + 1)}`,
  );
  return `{${members.join(',')}}`;
}

function randomIndex(r: () => number): string {
  const ws = () => pick(r, WS);
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'a/b.st'];
  const entries = Array.from({ length: Math.floor(r() * 12) }, () => {
    const name = randomName(r);
    const value = r() < 0.05 ? pick(r, ['1', 'null', '""', '"\\u0061"']) : `"${pick(r, shards)}"`;
    return `${ws()}"${name}"${ws()}:${ws()}${value}${ws()}`;
  });
  const members = [`"weight_map"${ws()}:${ws()}{${entries.join(',')}}`];
  if (r() < 0.7) members.push(`"metadata"${ws()}:${ws()}${randomValue(r, 0)}`);
  if (r() < 0.2) members.push(`"extra"${ws()}:${ws()}${randomValue(r, 0)}`);
  if (r() < 0.05) members.push(`"weight_map":{}`);
  if (r() < 0.5) members.reverse();
  return `${ws()}{${ws()}${members.join(`,${ws()}`)}${ws()}}${ws()}`;
}

describe('shard index scan (the fast subset of JSON)', () => {
  it('reads the usual index into names, shard numbers and distinct shard values', () => {
    const text = JSON.stringify(
      {
        metadata: { total_size: 123 },
        weight_map: {
          'a.weight': 'm-1.safetensors',
          'b.weight': 'm-2.safetensors',
          c: 'm-1.safetensors',
        },
      },
      null,
      2,
    );
    const s = scanShardIndex(text, 10);
    assert.ok(s?.weightMap);
    assert.deepEqual(s.weightMap.names, ['a.weight', 'b.weight', 'c']);
    assert.deepEqual(s.weightMap.shardOf, [0, 1, 0]);
    assert.deepEqual(s.weightMap.files, ['m-1.safetensors', 'm-2.safetensors']);
    assert.deepEqual({ ...s.members }, { metadata: { total_size: 123 } });
  });

  it('leaves escapes, control characters, duplicate keys, bad values and trailing text to JSON.parse', () => {
    for (const text of [
      '{"weight_map":{"a\\"b":"x"}}',
      '{"weight_map":{"a\tb":"x"}}',
      '{"weight_map":{"a":"x"},"weight_map":{"b":"y"}}',
      '{"weight_map":{"a":1}}',
      '{"weight_map":{"a":"x",}}',
      '{"weight_map":{"a":"x"}} x',
      '{"weight_map":{"a":"x"}',
      '[]',
      '{"metadata":{"a":1,}, "weight_map":{}}',
    ])
      assert.equal(scanShardIndex(text, 10), undefined, text);
  });

  it('stops at the entry limit without reading further', () => {
    const s = scanShardIndex('{"weight_map":{"a":"x","b":"x","c":"x","d', 2);
    assert.equal(s?.weightMap?.names.length, 3);
  });

  it('agrees with JSON.parse on 3,000 seeded indexes and their one-character corruptions', () => {
    const r = mulberry32(15);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const text = randomIndex(r);
      const scanned = scanShardIndex(text, 1000);
      if (scanned) accepted++;
      agree(text, scanned);
      const at = Math.floor(r() * text.length);
      const broken =
        r() < 0.5
          ? text.slice(0, at) + text.slice(at + 1)
          : text.slice(0, at) +
            pick(r, ['"', '{', '}', ',', ':', '\\', '\n', 'x', '1']) +
            text.slice(at);
      agree(broken, scanShardIndex(broken, 1000));
    }
    // Most generated indexes are in the fast subset: the test exercises it, not only the fallback.
    assert.ok(accepted > 1500, `${accepted} of 3000 took the fast path`);
  });
});
