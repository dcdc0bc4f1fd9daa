/**
 * Finds the first duplicate key in any object of a JSON text.
 *
 * JSON.parse silently keeps the last of two equal keys, and other parsers keep the first, so one file
 * can mean two things (Trail of Bits TOB-SFTN-7, safetensors#401). Call this on text JSON.parse has
 * already accepted; it is a single non-recursive pass, so hostile nesting cannot overflow the stack.
 */
export interface DuplicateKey {
  /** The duplicated key, decoded. */
  readonly key: string;
  /** The key of the enclosing object in its parent, or undefined at the top level. */
  readonly parentKey: string | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

interface Frame {
  /** Keys seen so far; null for arrays. */
  readonly keys: Set<string> | null;
  readonly parentKey: string | undefined;
}

/** Index of the quote that closes the string opening at `start`. */
function closingQuote(text: string, start: number): number {
  let j = text.indexOf('"', start + 1);
  while (j !== -1) {
    let slashes = 0;
    for (let k = j - 1; text.charCodeAt(k) === BACKSLASH; k--) slashes++;
    if (slashes % 2 === 0) return j;
    j = text.indexOf('"', j + 1);
  }
  return text.length;
}

/**
 * Counts the keys of every object in a JSON text without building anything: a key is a string followed
 * by a colon. Fast enough to run on every header; compare it with `countParsedKeys` of the parsed value,
 * and only when they differ (JSON.parse dropped a duplicate) run `findDuplicateKey` to name it.
 */
export function countTextKeys(text: string): number {
  let keys = 0;
  let i = text.indexOf('"');
  while (i !== -1) {
    const end = closingQuote(text, i);
    let k = end + 1;
    let c = text.charCodeAt(k);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++k);
    if (c === COLON) keys++;
    i = text.indexOf('"', end + 1);
  }
  return keys;
}

/** Keys of every object in a parsed JSON value; iterative, so depth is no risk. */
export function countParsedKeys(value: unknown): number {
  let keys = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null && typeof x === 'object') stack.push(x);
    } else {
      for (const k in v) {
        keys++;
        const x = (v as Record<string, unknown>)[k];
        if (x !== null && typeof x === 'object') stack.push(x);
      }
    }
  }
  return keys;
}

export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let expectKey = false;
  let lastKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        let key = text.slice(i + 1, end);
        // Escapes make "a\u0062" and "ab" the same key; decode only when there are any.
        if (key.includes('\\')) key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return { key, parentKey: top.parentKey };
        top.keys.add(key);
        lastKey = key;
        expectKey = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT) {
      stack.push({ keys: new Set(), parentKey: lastKey });
      expectKey = true;
    } else if (c === OPEN_ARRAY) {
      stack.push({ keys: null, parentKey: lastKey });
      expectKey = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      const closed = stack.pop();
      lastKey = closed?.parentKey;
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = stack[stack.length - 1]?.keys != null;
    } else if (c === COLON) {
      expectKey = false;
    }
  }
  return undefined;
}
