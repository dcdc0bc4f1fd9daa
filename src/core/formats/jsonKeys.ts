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
