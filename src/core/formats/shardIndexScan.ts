/**
 * A fast reader for the usual shape of a shard index (`model.safetensors.index.json`): a top-level
 * object whose `weight_map` is a flat object of plain strings. JSON.parse turns a 1M-entry weight_map
 * into a dictionary-mode object, slow to build, walk and query (about 1.7 s at 1M entries); this scans
 * the weight_map's members with one sticky regex each, into arrays (about 0.3 s).
 *
 * It accepts only a strict subset of JSON: every other member is located here and parsed by
 * JSON.parse itself. Anything outside the subset (an escape or a control character in a weight_map
 * string, a duplicate key, a non-string value, trailing text) returns undefined, and the caller reads
 * the file with JSON.parse, which gives the same result or the precise syntax error.
 */

/** The weight_map, in the index's order: each tensor name and the number of its shard in `files`. */
export interface ScannedWeightMap {
  readonly names: readonly string[];
  readonly shardOf: readonly number[];
  /** The distinct shard values, as written, in order of first appearance. */
  readonly files: readonly string[];
}

export interface ScannedIndex {
  /** Every top-level member but weight_map, parsed by JSON.parse. */
  readonly members: Record<string, unknown>;
  /** undefined when the index has no weight_map object. */
  readonly weightMap: ScannedWeightMap | undefined;
}

const WS = /[ \t\n\r]*/y;
// Control characters are what JSON forbids raw inside a string: the classes name them on purpose.
/* eslint-disable no-control-regex */
/** A JSON string with any escapes (a top-level key, or a string elsewhere being skipped). */
const STRING = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
/** One weight_map member without escapes: name, shard file, then the `,` or `}` after it. */
const MEMBER =
  /[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*([,}])/y;
/* eslint-enable no-control-regex */

function skipWs(text: string, i: number): number {
  WS.lastIndex = i;
  WS.test(text);
  return WS.lastIndex;
}

/** The end of the JSON string at `i`, or -1. */
function stringEnd(text: string, i: number): number {
  STRING.lastIndex = i;
  return STRING.test(text) ? STRING.lastIndex : -1;
}

/**
 * The end of the JSON value starting at `i`, or -1. It only finds the extent (strings skipped whole,
 * brackets counted); JSON.parse of the slice then checks the syntax.
 */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return stringEnd(text, i);
  if (c !== 0x7b && c !== 0x5b) {
    SCALAR.lastIndex = i;
    return SCALAR.test(text) ? SCALAR.lastIndex : -1;
  }
  let depth = 0;
  for (let j = i; j < text.length;) {
    const d = text.charCodeAt(j);
    if (d === 0x22) {
      j = stringEnd(text, j);
      if (j < 0) return -1;
      continue;
    }
    if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d || d === 0x5d) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return -1;
}

/**
 * The members of the weight_map object whose `{` is at `open`, and the index after its `}`; undefined
 * outside the subset. Stops early (returns what it has, `end` -1) past `maxEntries`.
 */
function scanWeightMap(
  text: string,
  open: number,
  maxEntries: number,
): { map: ScannedWeightMap; end: number } | undefined {
  const names: string[] = [];
  const shardOf: number[] = [];
  const files: string[] = [];
  const fileIds = new Map<string, number>();
  const i = skipWs(text, open + 1);
  if (text.charCodeAt(i) === 0x7d) return { map: { names, shardOf, files }, end: i + 1 };
  // Entries come grouped by shard: compare with the previous value before hashing it.
  let last = '';
  let lastId = -1;
  MEMBER.lastIndex = i;
  for (;;) {
    const m = MEMBER.exec(text);
    if (!m) return undefined;
    const file = m[2] as string;
    let id = lastId;
    if (file !== last || id < 0) {
      id = fileIds.get(file) ?? -1;
      if (id < 0) {
        id = files.length;
        files.push(file);
        fileIds.set(file, id);
      }
      last = file;
      lastId = id;
    }
    names.push(m[1] as string);
    shardOf.push(id);
    if (names.length > maxEntries) return { map: { names, shardOf, files }, end: -1 };
    if (m[3] === '}') return { map: { names, shardOf, files }, end: MEMBER.lastIndex };
  }
}

/** The index read through the fast subset, or undefined (then JSON.parse the text). */
export function scanShardIndex(text: string, maxEntries: number): ScannedIndex | undefined {
  const members: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const seen = new Set<string>();
  let weightMap: ScannedWeightMap | undefined;
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== 0x7b) return undefined;
  i = skipWs(text, i + 1);
  if (text.charCodeAt(i) === 0x7d) return tail(text, i + 1, members, undefined);
  for (;;) {
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    if (seen.has(key)) return undefined;
    seen.add(key);
    i = skipWs(text, keyEnd);
    if (text.charCodeAt(i) !== 0x3a) return undefined;
    i = skipWs(text, i + 1);
    if (key === 'weight_map' && text.charCodeAt(i) === 0x7b) {
      const scanned = scanWeightMap(text, i, maxEntries);
      if (!scanned) return undefined;
      weightMap = scanned.map;
      // Over the limit: the caller names the limit; the rest need not be read.
      if (scanned.end < 0) return { members, weightMap };
      i = scanned.end;
    } else {
      const end = valueEnd(text, i);
      if (end < 0) return undefined;
      try {
        members[key] = JSON.parse(text.slice(i, end)) as unknown;
      } catch {
        return undefined;
      }
      i = end;
    }
    i = skipWs(text, i);
    const c = text.charCodeAt(i);
    if (c === 0x7d) return tail(text, i + 1, members, weightMap);
    if (c !== 0x2c) return undefined;
    i = skipWs(text, i + 1);
  }
}

function tail(
  text: string,
  i: number,
  members: Record<string, unknown>,
  weightMap: ScannedWeightMap | undefined,
): ScannedIndex | undefined {
  return skipWs(text, i) === text.length ? { members, weightMap } : undefined;
}
