/**
 * A fast path for reading a safetensors header: one pass over the header bytes that hands each tensor's
 * fields to a sink, without decoding the whole header to a string and without JSON.parse's object tree
 * (for a 1,000,000-tensor header that tree is most of the memory peak of opening the file).
 *
 * It reads only the common, well-formed shape of a header:
 *
 *   { "name": {"dtype": "...", "shape": [ints], "data_offsets": [int, int]}, …,
 *     "__metadata__": {"key": "value", …} }
 *
 * with the three fields in any order, JSON whitespace anywhere between tokens, and strings with escapes
 * or UTF-8 (those decoded exactly as JSON.parse decodes them). On anything else (another value type,
 * another key in an entry, a number that is not a plain non-negative integer below 2^53, a duplicate
 * key, invalid UTF-8 or a control character in a string, trailing bytes, truncation) it returns false
 * and the caller parses the header the ordinary way, which gives every error its usual code and message.
 * It validates nothing beyond that syntax: the caller runs the same checks on the fields either way.
 */

export interface ScanSink {
  /** One tensor entry; `shape` is a scratch array, reused for the next entry. */
  tensor(name: string, dtype: string, shape: number[], begin: number, end: number): void;
  /** One key of "__metadata__"; keys are already checked to be distinct. */
  metadata(key: string, value: string): void;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;
const METADATA_KEY = '__metadata__';

/** Field keys of an entry, as bytes. */
const DTYPE = [0x64, 0x74, 0x79, 0x70, 0x65]; // dtype
const SHAPE = [0x73, 0x68, 0x61, 0x70, 0x65]; // shape
const DATA_OFFSETS = [0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73]; // data_offsets

/** Returned by the readers below when the input is outside the supported subset. */
const NO = -1;

/**
 * One tensor entry exactly as the safetensors writer spells it (compact, fields in its order, plain
 * ASCII name and dtype): `"name":{"dtype":"F16","shape":[4096,4096],"data_offsets":[0,33554432]}`.
 * Matched on the header's latin1 text by one native regex, it skips the byte-by-byte walk, which is
 * slow before the JIT has warmed up (most of `inspect`'s time on a 20,000-tensor header). Anything
 * else goes the byte-by-byte way. The character class is the byte walk's "plain" string.
 */
// eslint-disable-next-line no-control-regex
const PLAIN = /[^"\\\x00-\x1f\x80-\xff]*/.source;
const INDEX = '(?:0|[1-9][0-9]{0,15})';
const WINDOW = 1 << 16;
const WINDOW_SLACK = 4096;
const CANONICAL_ENTRY = new RegExp(
  `"${PLAIN}":\\{"dtype":"${PLAIN}","shape":\\[(?:${INDEX}(?:,${INDEX})*)?\\],"data_offsets":\\[${INDEX},${INDEX}\\]\\}`,
  'y',
);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Latin1 = (start: number, end: number) => string;

/** ASCII bytes to a flat string: Buffer's latin1 slice where there is one (Node), else fromCharCode. */
function latin1Of(bytes: Uint8Array): Latin1 {
  const B = (globalThis as { Buffer?: typeof Buffer }).Buffer;
  if (B) {
    const buf = B.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Buffer & {
      latin1Slice?: (start: number, end: number) => string;
    };
    const slice = buf.latin1Slice;
    if (typeof slice === 'function') return (start, end) => slice.call(buf, start, end);
    return (start, end) => buf.toString('latin1', start, end);
  }
  return (start, end) => String.fromCharCode.apply(null, Array.from(bytes.subarray(start, end)));
}

class Scanner {
  private pos = 0;
  private readonly len: number;
  private readonly latin1: Latin1;
  /** The last dtype string and its byte range: most entries repeat it, so it is decoded once. */
  private dtypeText = '';
  private dtypeStart = 0;
  private dtypeEnd = 0;
  /** Set by readString: the range of the last string read, quotes excluded, and whether it was plain. */
  private strStart = 0;
  private strEnd = 0;
  private strPlain = false;
  private readonly shape: number[] = [];
  private begin = 0;
  private end = 0;
  /**
   * A latin1 window of the header for the canonical-entry regex (bytes ≥ 0x80 become chars the regex
   * refuses), renewed when fewer than WINDOW_SLACK bytes are left in it. Windows, not one string of
   * the whole header: Node makes a large string external (malloc'd), and those kept about 6 MB of RSS
   * per 100k-tensor open after a GC.
   */
  private window = '';
  private windowStart = 0;

  private windowAt(pos: number): string {
    const end = this.windowStart + this.window.length;
    if (pos < this.windowStart || (pos + WINDOW_SLACK > end && end < this.len)) {
      this.windowStart = pos;
      this.window = this.latin1(pos, Math.min(this.len, pos + WINDOW));
    }
    return this.window;
  }

  constructor(
    private readonly bytes: Uint8Array,
    private readonly sink: ScanSink,
  ) {
    this.len = bytes.length;
    this.latin1 = latin1Of(bytes);
  }

  private ws(): void {
    const b = this.bytes;
    let p = this.pos;
    let c = b[p];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++p];
    this.pos = p;
  }

  /**
   * Finds the string that starts at pos (which must be a quote) and moves past it; false when it is
   * unterminated. Plain strings are printable ASCII without escapes.
   */
  private skipString(): boolean {
    const b = this.bytes;
    const len = this.len;
    let p = this.pos + 1;
    const start = p;
    let plain = true;
    for (;;) {
      if (p >= len) return false;
      const c = b[p] as number;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        plain = false;
        p += 2; // the escaped byte is never a quote that ends the string; \uXXXX digits are no quotes
        continue;
      }
      if (c < 0x20 || c >= 0x80) plain = false;
      p++;
    }
    this.strStart = start;
    this.strEnd = p;
    this.strPlain = plain;
    this.pos = p + 1;
    return true;
  }

  /** The last string skipped, decoded as JSON.parse would; undefined when JSON.parse would refuse it. */
  private lastString(): string | undefined {
    if (this.strPlain) return this.latin1(this.strStart, this.strEnd);
    try {
      const v: unknown = JSON.parse(
        utf8.decode(this.bytes.subarray(this.strStart - 1, this.strEnd + 1)),
      );
      return typeof v === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  private readString(): string | undefined {
    if (this.bytes[this.pos] !== QUOTE || !this.skipString()) return undefined;
    return this.lastString();
  }

  /** Whether the last string skipped is plain and spelled exactly `key`. */
  private lastIs(key: readonly number[]): boolean {
    if (!this.strPlain || this.strEnd - this.strStart !== key.length) return false;
    const b = this.bytes;
    for (let i = 0, p = this.strStart; i < key.length; i++, p++) if (b[p] !== key[i]) return false;
    return true;
  }

  /** A non-negative integer in JSON's syntax that is at most 2^53−1; NO otherwise. */
  private readIndex(): number {
    const b = this.bytes;
    let p = this.pos;
    let c = b[p] as number;
    if (!(c >= ZERO && c <= NINE)) return NO; // also past the end, where c is undefined
    let n = c - ZERO;
    p++;
    // JSON has no leading zeros: after a 0 the caller sees the next digit and refuses it.
    if (n !== 0) {
      c = b[p] as number;
      while (c >= ZERO && c <= NINE) {
        n = n * 10 + (c - ZERO);
        if (n > Number.MAX_SAFE_INTEGER) return NO;
        c = b[++p] as number;
      }
    }
    this.pos = p;
    return n;
  }

  /** `[int, …]` into this.shape; false otherwise. */
  private readShape(): boolean {
    const b = this.bytes;
    const shape = this.shape;
    shape.length = 0;
    if (b[this.pos] !== OPEN_ARRAY) return false;
    this.pos++;
    this.ws();
    if (b[this.pos] === CLOSE_ARRAY) {
      this.pos++;
      return true;
    }
    for (;;) {
      const d = this.readIndex();
      if (d === NO) return false;
      shape.push(d);
      this.ws();
      const c = b[this.pos];
      this.pos++;
      if (c === CLOSE_ARRAY) return true;
      if (c !== COMMA) return false;
      this.ws();
    }
  }

  /** `[int, int]` into begin and end; false otherwise. */
  private readOffsets(): boolean {
    const b = this.bytes;
    if (b[this.pos] !== OPEN_ARRAY) return false;
    this.pos++;
    this.ws();
    const begin = this.readIndex();
    if (begin === NO) return false;
    this.ws();
    if (b[this.pos] !== COMMA) return false;
    this.pos++;
    this.ws();
    const end = this.readIndex();
    if (end === NO) return false;
    this.ws();
    if (b[this.pos] !== CLOSE_ARRAY) return false;
    this.pos++;
    this.begin = begin;
    this.end = end;
    return true;
  }

  /** The dtype string at pos; the previous one when its bytes are the same. */
  private readDtype(): string | undefined {
    if (this.bytes[this.pos] !== QUOTE || !this.skipString()) return undefined;
    const start = this.strStart;
    const n = this.strEnd - start;
    if (this.strPlain && n === this.dtypeEnd - this.dtypeStart) {
      const b = this.bytes;
      let same = true;
      for (let i = 0; i < n; i++) {
        if (b[start + i] !== b[this.dtypeStart + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.dtypeText;
    }
    const text = this.lastString();
    if (text !== undefined && this.strPlain) {
      this.dtypeText = text;
      this.dtypeStart = start;
      this.dtypeEnd = this.strEnd;
    }
    return text;
  }

  /** One tensor entry `{dtype, shape, data_offsets}` for `name`; false otherwise. */
  private readEntry(name: string): boolean {
    const b = this.bytes;
    if (b[this.pos] !== OPEN_OBJECT) return false;
    this.pos++;
    let dtype: string | undefined;
    let hasShape = false;
    let hasOffsets = false;
    for (let field = 0; field < 3; field++) {
      this.ws();
      if (b[this.pos] !== QUOTE || !this.skipString()) return false;
      this.ws();
      if (b[this.pos] !== COLON) return false;
      this.pos++;
      this.ws();
      if (this.lastIs(DTYPE)) {
        if (dtype !== undefined) return false;
        dtype = this.readDtype();
        if (dtype === undefined) return false;
      } else if (this.lastIs(SHAPE)) {
        if (hasShape || !this.readShape()) return false;
        hasShape = true;
      } else if (this.lastIs(DATA_OFFSETS)) {
        if (hasOffsets || !this.readOffsets()) return false;
        hasOffsets = true;
      } else {
        return false;
      }
      this.ws();
      const c = b[this.pos];
      this.pos++;
      if (field < 2 ? c !== COMMA : c !== CLOSE_OBJECT) return false;
    }
    // Three distinct known keys were read, so all three are present.
    this.sink.tensor(name, dtype as string, this.shape, this.begin, this.end);
    return true;
  }

  /**
   * A canonical entry (CANONICAL_ENTRY) at pos to the sink, pos moved past it; false (pos unmoved)
   * for anything else, __metadata__ included, which the byte walk then reads or refuses.
   */
  private canonicalEntry(): boolean {
    const window = this.windowAt(this.pos);
    CANONICAL_ENTRY.lastIndex = this.pos - this.windowStart;
    // test(), not exec(): no match array or capture strings per entry. The match fixes the layout, so
    // the fields are read from the bytes at known places. An entry longer than the slack may fail
    // here at the window's end; the byte walk reads it.
    if (!CANONICAL_ENTRY.test(window)) return false;
    const matchEnd = this.windowStart + CANONICAL_ENTRY.lastIndex;
    const b = this.bytes;
    const nameStart = this.pos + 1;
    const nameEnd = b.indexOf(QUOTE, nameStart);
    const name = this.latin1(nameStart, nameEnd);
    if (name === METADATA_KEY) return false;
    // `":{"dtype":"` is 12 bytes; `","shape":[` 11; `,"data_offsets":[` 17.
    const dtypeStart = nameEnd + 12;
    const dtypeEnd = b.indexOf(QUOTE, dtypeStart);
    const dtype = this.sameDtype(dtypeStart, dtypeEnd)
      ? this.dtypeText
      : this.latin1(dtypeStart, dtypeEnd);
    this.dtypeText = dtype;
    this.dtypeStart = dtypeStart;
    this.dtypeEnd = dtypeEnd;
    const shape = this.shape;
    shape.length = 0;
    this.pos = dtypeEnd + 11;
    if (b[this.pos] !== CLOSE_ARRAY) {
      for (;;) {
        const d = this.readIndex();
        if (d === NO) return this.rewind(nameStart);
        shape.push(d);
        if (b[this.pos++] === CLOSE_ARRAY) break;
      }
    } else this.pos++;
    this.pos += 17;
    const begin = this.readIndex();
    this.pos++;
    const end = this.readIndex();
    if (begin === NO || end === NO) return this.rewind(nameStart);
    this.addName(name);
    this.sink.tensor(name, dtype, shape, begin, end);
    this.pos = matchEnd;
    return true;
  }

  /** Back to the entry's opening quote (an index past 2^53−1): the byte walk refuses it. */
  private rewind(nameStart: number): false {
    this.pos = nameStart - 1;
    return false;
  }

  /** Whether bytes [start, end) spell the last dtype read. */
  private sameDtype(start: number, end: number): boolean {
    const n = end - start;
    if (n !== this.dtypeEnd - this.dtypeStart) return false;
    const b = this.bytes;
    for (let i = 0; i < n; i++) if (b[start + i] !== b[this.dtypeStart + i]) return false;
    return true;
  }

  /** `{"key": "value", …}` to the sink; false otherwise (including a repeated key). */
  private readMetadata(): boolean {
    const b = this.bytes;
    if (b[this.pos] !== OPEN_OBJECT) return false;
    this.pos++;
    this.ws();
    if (b[this.pos] === CLOSE_OBJECT) {
      this.pos++;
      return true;
    }
    const keys = new Set<string>();
    for (;;) {
      const key = this.readString();
      if (key === undefined || keys.has(key)) return false;
      keys.add(key);
      this.ws();
      if (b[this.pos] !== COLON) return false;
      this.pos++;
      this.ws();
      const value = this.readString();
      if (value === undefined) return false;
      this.sink.metadata(key, value);
      this.ws();
      const c = b[this.pos];
      this.pos++;
      if (c === CLOSE_OBJECT) return true;
      if (c !== COMMA) return false;
      this.ws();
    }
  }

  scan(): boolean {
    const b = this.bytes;
    this.ws();
    if (b[this.pos] !== OPEN_OBJECT) return false;
    this.pos++;
    this.ws();
    if (b[this.pos] === CLOSE_OBJECT) {
      this.pos++;
    } else {
      let sawMetadata = false;
      for (;;) {
        if (!this.canonicalEntry()) {
          const name = this.readString();
          if (name === undefined) return false;
          this.ws();
          if (b[this.pos] !== COLON) return false;
          this.pos++;
          this.ws();
          if (name === METADATA_KEY) {
            if (sawMetadata || !this.readMetadata()) return false;
            sawMetadata = true;
          } else {
            this.addName(name);
            if (!this.readEntry(name)) return false;
          }
        }
        this.ws();
        const c = b[this.pos];
        this.pos++;
        if (c === CLOSE_OBJECT) break;
        if (c !== COMMA) return false;
        this.ws();
      }
    }
    this.ws();
    return this.pos === this.len && this.namesDistinct();
  }

  /**
   * Tensor names are told apart by a 53-bit hash of their UTF-16 code units (a sorted Float64Array:
   * 8 bytes a name, against several times that for a Set of 1,000,000 strings). Equal names have equal
   * hashes, so no duplicate is missed; two different names with one hash (about 1 in 20,000 headers of
   * 1,000,000 tensors) only send the header to the ordinary parse, which decides exactly.
   */
  private hashes = new Float64Array(1024);
  private count = 0;

  private addName(name: string): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x2545f491;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    if (this.count === this.hashes.length) {
      const grown = new Float64Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count++] = (h1 >>> 0) * 0x200000 + (h2 >>> 11);
  }

  private namesDistinct(): boolean {
    const sorted = this.hashes.subarray(0, this.count).sort();
    for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) return false;
    return true;
  }
}

/**
 * Reads a header in the supported subset (see the file comment) into `sink`; false when the header is
 * outside it, in which case the sink may have seen some entries and the caller must discard them.
 */
export function scanHeader(bytes: Uint8Array, sink: ScanSink): boolean {
  return new Scanner(bytes, sink).scan();
}
