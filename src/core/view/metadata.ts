/**
 * Metadata for display: string values that hold JSON (kohya writes `ss_tag_frequency`,
 * `ss_dataset_dirs`, … as JSON inside strings) are expanded, recursively, so people see structure
 * instead of escaped quotes.
 */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface MetadataEntry {
  readonly key: string;
  /** The raw string, cut to `maxChars` when `truncated`. */
  readonly value: string;
  readonly length: number;
  readonly truncated: boolean;
  /** The JSON inside the string, when there is some (absent when truncated). */
  readonly parsed?: JsonValue;
}

const MAX_DEPTH = 8;

/** Parses a string that holds a JSON object or array; anything else stays a string. */
export function parseEmbeddedJson(value: string, depth = 0): JsonValue | undefined {
  const t = value.trimStart();
  if (depth > MAX_DEPTH || !(t.startsWith('{') || t.startsWith('['))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  return expandStrings(parsed as JsonValue, depth + 1);
}

function expandStrings(v: JsonValue, depth: number): JsonValue {
  if (typeof v === 'string') return parseEmbeddedJson(v, depth) ?? v;
  if (Array.isArray(v)) return v.map((x) => expandStrings(x, depth));
  if (v && typeof v === 'object') {
    const out = Object.create(null) as { [key: string]: JsonValue };
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, {
        value: expandStrings(x, depth),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return v;
}

export function expandMetadata(
  metadata: Readonly<Record<string, string>>,
  maxChars = 64 * 1024,
): MetadataEntry[] {
  return Object.keys(metadata)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((key) => metadataEntry(key, metadata[key] as string, maxChars));
}

export function metadataEntry(key: string, value: string, maxChars = Infinity): MetadataEntry {
  if (value.length > maxChars) {
    return { key, value: value.slice(0, maxChars), length: value.length, truncated: true };
  }
  const parsed = parseEmbeddedJson(value);
  return parsed === undefined
    ? { key, value, length: value.length, truncated: false }
    : { key, value, length: value.length, truncated: false, parsed };
}
