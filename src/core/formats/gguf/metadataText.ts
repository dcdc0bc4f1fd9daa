import { GgufValueType, valueTypeWord } from './valueTypes.js';

/** Arrays longer than this (tokenizer vocabularies, merges, scores) are described, not listed. */
export const MAX_LISTED_ITEMS = 32;
/** An array whose JSON would be longer than this is described too. */
export const MAX_LISTED_CHARS = 1000;
const PREVIEW_ITEMS = 5;
const PREVIEW_STRING_CHARS = 40;

/** One array element as read: nested arrays arrive as their own text. */
export type ArrayItem = string | number | bigint | boolean | { readonly arrayText: string };

/**
 * The shortest decimal that reads back as the same f32: an f32 alpha of 16 shows "16" and an epsilon
 * of 1e-5 "0.00001", not the f64 expansion 9.999999747378752e-6.
 */
export function f32Text(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (!Number.isFinite(v)) return String(v);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(v.toPrecision(digits));
    if (Math.fround(candidate) === v) return String(candidate);
  }
  return String(v);
}

/** Numbers, bigints and bools via String; f32 values at their own precision; strings as they are. */
export function scalarText(type: GgufValueType, value: number | bigint | boolean | string): string {
  if (typeof value === 'number' && type === GgufValueType.FLOAT32) return f32Text(value);
  return String(value);
}

/**
 * An array as compact JSON when it is short, else "[array of 128256 strings] ["<unk>","<s>",…]".
 * `items` holds the first items (up to MAX_LISTED_ITEMS); `length` is the whole count.
 */
export function arrayText(
  length: number,
  elementType: GgufValueType,
  items: readonly ArrayItem[],
): string {
  if (length <= MAX_LISTED_ITEMS && items.length === length) {
    const json = itemsJson(items, elementType, length, Infinity);
    if (json.length <= MAX_LISTED_CHARS) return json;
  }
  const preview = itemsJson(items, elementType, PREVIEW_ITEMS, PREVIEW_STRING_CHARS);
  return `[array of ${length} ${valueTypeWord(elementType)}] ${preview.slice(0, -1)}${length > PREVIEW_ITEMS ? ',…' : ''}]`;
}

function itemsJson(
  items: readonly ArrayItem[],
  elementType: GgufValueType,
  count: number,
  maxStringChars: number,
): string {
  const parts: string[] = [];
  for (let i = 0; i < Math.min(count, items.length); i++) {
    parts.push(itemJson(items[i] as ArrayItem, elementType, maxStringChars));
  }
  return `[${parts.join(',')}]`;
}

function itemJson(item: ArrayItem, elementType: GgufValueType, maxStringChars: number): string {
  if (typeof item === 'object') return item.arrayText;
  if (typeof item === 'string') {
    return JSON.stringify(
      item.length > maxStringChars ? item.slice(0, maxStringChars) + '…' : item,
    );
  }
  return scalarText(elementType, item);
}
