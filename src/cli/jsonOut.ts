/**
 * `--json` output written in pieces: the same text as `JSON.stringify(value, null, 2)`, byte for
 * byte, but big arrays and objects go out a slice at a time, so a 100,000-tensor report never
 * exists as one giant string next to the objects it was made from.
 */
import type { Io } from './cliCommon.js';

/** Containers holding more entries than this (all levels) are written entry by entry, smaller ones in one call. */
const STREAM_ABOVE = 64;
/** Small entries of a big array go to JSON.stringify in runs of at most this many entries (all levels). */
const RUN_ENTRIES = 4096;
/** Flush to `io.out` once this many characters are pending (whole lines only). */
const FLUSH_AT = 1 << 16;

class LineSink {
  private parts: string[] = [];
  private pending = 0;
  constructor(private readonly io: Io) {}

  push(text: string): void {
    this.parts.push(text);
    this.pending += text.length;
  }

  /** Called between lines: `io.out` adds the newline itself, so a flush ends at a line end. */
  lineBreak(): void {
    if (this.pending < FLUSH_AT) {
      this.push('\n');
      return;
    }
    this.flush();
  }

  flush(): void {
    this.io.out(this.parts.join(''));
    this.parts = [];
    this.pending = 0;
  }
}

/** What JSON.stringify does with a value before writing it: toJSON, then dropping the unwritable. */
function prepare(key: string, value: unknown): unknown {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  )
    return (value as { toJSON: (k: string) => unknown }).toJSON.call(value, key);
  return value;
}

const unwritable = (v: unknown): boolean =>
  v === undefined || typeof v === 'function' || typeof v === 'symbol';

/** Whether a value is an object or array JSON.stringify writes entry by entry. */
function isContainer(v: unknown): v is object {
  if (v === null || typeof v !== 'object') return false;
  // Boxed primitives are written as their value (a long `new String` has many index keys).
  return !(v instanceof String || v instanceof Number || v instanceof Boolean);
}

/**
 * What is left of `budget` after counting the entries of `v` and of everything inside it; stops
 * counting (and returns ≤ 0) once the budget is spent, so a check costs at most `budget` steps.
 * An object with a toJSON counts as one entry (what it stands for is not known until it runs).
 */
function remaining(v: unknown, budget: number): number {
  if (!isContainer(v) || typeof (v as { toJSON?: unknown }).toJSON === 'function') return budget;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && budget > 0; i++) budget = remaining(v[i], budget - 1);
    return budget;
  }
  for (const k in v) {
    if (budget <= 0) break;
    if (Object.prototype.hasOwnProperty.call(v, k))
      budget = remaining((v as Record<string, unknown>)[k], budget - 1);
  }
  return budget;
}

/**
 * Whether a value holds more than STREAM_ABOVE entries all told (its own and its children's): such a
 * value is written entry by entry, anything smaller in one JSON.stringify call. The choice only
 * decides how the text is cut into pieces, never what it says.
 */
const isBig = (v: unknown): v is object => isContainer(v) && remaining(v, STREAM_ABOVE) <= 0;

/**
 * The end of the run of small entries of `array` from `start` that one JSON.stringify call can write
 * (`start` itself when there is none): none big, none with a toJSON of its own (JSON.stringify of a
 * slice would pass it its index in the slice), at most RUN_ENTRIES entries all told.
 */
function smallRun(array: readonly unknown[], start: number): number {
  let budget = RUN_ENTRIES;
  let i = start;
  for (; i < array.length && budget > 0; i++) {
    const v = array[i];
    if (v !== null && typeof v === 'object') {
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') break;
      const left = remaining(v, STREAM_ABOVE);
      if (left <= 0) break;
      budget -= STREAM_ABOVE - left + 1;
    } else budget--;
  }
  return i;
}

/**
 * JSON.stringify of a value whose toJSON (if any) already ran: JSON.stringify calls toJSON once per
 * value, so a toJSON result with a toJSON of its own must not have that one called again.
 */
function stringifyPrepared(value: unknown, toJsonRan: boolean): string | undefined {
  return JSON.stringify(toJsonRan ? { toJSON: () => value } : value, null, 2);
}

/**
 * One value at `indent` (already through `prepare`; `toJsonRan` says whether that called a toJSON):
 * small ones through JSON.stringify, re-indented to sit at this depth (a JSON text holds no raw
 * newline but those between its lines, so every `\n` is a line break).
 */
function writeValue(sink: LineSink, value: unknown, indent: string, toJsonRan: boolean): void {
  if (!isBig(value)) {
    const text = stringifyPrepared(value, toJsonRan) ?? 'null';
    sink.push(indent ? text.replace(/\n/g, `\n${indent}`) : text);
    return;
  }
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    sink.push('[');
    for (let i = 0; i < value.length;) {
      if (i > 0) sink.push(',');
      sink.lineBreak();
      const end = smallRun(value, i);
      if (end > i) {
        // A run of small entries in one JSON.stringify call: its lines, less the brackets, sit
        // one level in already ("[\n  a,\n  b\n]"), so each only needs this level's indent.
        const text = JSON.stringify(value.slice(i, end), null, 2);
        const body = text.slice(2, -2);
        sink.push(indent ? indent + body.replace(/\n/g, `\n${indent}`) : body);
        i = end;
        continue;
      }
      const raw: unknown = value[i];
      const v = prepare(String(i), raw);
      sink.push(inner);
      writeValue(sink, unwritable(v) ? null : v, inner, v !== raw);
      i++;
    }
    sink.lineBreak();
    sink.push(`${indent}]`);
    return;
  }
  sink.push('{');
  let first = true;
  for (const k of Object.keys(value)) {
    const raw = (value as Record<string, unknown>)[k];
    const v = prepare(k, raw);
    if (unwritable(v)) continue;
    if (!first) sink.push(',');
    first = false;
    sink.lineBreak();
    sink.push(`${inner}${JSON.stringify(k)}: `);
    writeValue(sink, v, inner, v !== raw);
  }
  if (!first) sink.lineBreak();
  sink.push(first ? '}' : `${indent}}`);
}

/**
 * Writes `JSON.stringify(value, null, 2)` through `io.out`, in whole-line pieces (each `io.out` call
 * adds the newline that ends its last line). A value JSON.stringify gives no text for (undefined, a
 * function) writes nothing.
 */
export function writeJson(io: Io, value: unknown): void {
  const v = prepare('', value);
  if (unwritable(v)) return;
  const sink = new LineSink(io);
  writeValue(sink, v, '', v !== value);
  sink.flush();
}
