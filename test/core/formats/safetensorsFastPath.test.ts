import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DTYPE_BITS } from '../../../src/core/formats/dtypes.js';
import {
  CheckpointError,
  MemoryByteSource,
  MAX_HEADER_SIZE,
} from '../../../src/core/formats/index.js';
import { openSafetensorsWith } from '../../../src/core/formats/safetensors.js';
import { scanHeader } from '../../../src/core/formats/safetensorsScan.js';
import { mutate, Rng } from '../../../scripts/fuzz/mutate.js';
import { rawFile } from '../../helpers/safetensorsBuilder.js';

/** What opening a file gives: the whole parsed result, or the error's code, message and subject. */
async function outcome(bytes: Uint8Array, fastPath: boolean): Promise<unknown> {
  try {
    const c = await openSafetensorsWith(new MemoryByteSource(bytes, 't.safetensors'), { fastPath });
    return {
      tensors: c.tensors.map((t) => ({ ...t, shapeFrozen: Object.isFrozen(t.shape) })),
      metadata: Object.entries(c.metadata),
      metadataProto: Object.getPrototypeOf(c.metadata) as unknown,
      headerByteLength: c.headerByteLength,
      parameterCount: c.parameterCount,
      dataBytes: c.dataBytes,
      dtypes: c.dtypes,
    };
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    return { code: e.code, message: e.message, subject: e.subject };
  }
}

/** Fast and slow paths agree on `bytes`; returns whether the scanner itself read the header. */
async function agree(bytes: Uint8Array, label: string): Promise<boolean> {
  const slow = await outcome(bytes, false);
  const fast = await outcome(bytes, true);
  assert.deepStrictEqual(fast, slow, label);
  if (bytes.length < 8) return false;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER_SIZE || 8 + n > bytes.length) return false;
  return scanHeader(bytes.subarray(8, 8 + n), { tensor() {}, metadata() {} });
}

const DTYPES = Object.keys(DTYPE_BITS);
const WS = [' ', '\n', '\t', '\r', '  ', ''];

function randomName(rng: Rng, i: number): string {
  const pieces = [
    () => `layers.${rng.int(100)}.mlp.up_proj.weight`,
    () => String(rng.int(50)), // integer-like keys: objects order them first
    () => 'ünïcödé.権重.🙂',
    () => 'quote"back\\slash/slash',
    () => 'tab\tnewline\n\u0001ctrl',
    () => '__proto__',
    () => 'constructor',
    () => '',
  ];
  return rng.pick(pieces)() + (rng.int(3) === 0 ? '' : `.${i}`);
}

/** A JSON string for `s`, sometimes with gratuitous escapes (\u0041, \/) that decode the same. */
function quote(rng: Rng, s: string): string {
  const plain = JSON.stringify(s);
  if (rng.int(3) !== 0) return plain;
  return plain.replace(/[a-z/]/g, (c) =>
    rng.int(4) === 0
      ? c === '/'
        ? '\\/'
        : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
      : c,
  );
}

function randomShape(rng: Rng, dtype: string): number[] {
  const subByte = DTYPE_BITS[dtype as keyof typeof DTYPE_BITS] % 8 !== 0;
  const kind = rng.int(6);
  if (kind === 0) return subByte ? [8] : [];
  if (kind === 1) return [0];
  if (kind === 2) return [rng.int(3), 0, 7];
  const rank = 1 + rng.int(3);
  const shape = Array.from({ length: rank }, () => 1 + rng.int(6));
  // Sub-byte dtypes need whole bytes.
  if (subByte) shape[0] = 4 * (1 + rng.int(3));
  return shape;
}

/** A valid header text (with some data length) from the seed. */
function randomHeader(rng: Rng): { text: string; data: number } {
  const count = rng.int(12);
  const members: string[] = [];
  const w = () => rng.pick(WS);
  const used = new Set<string>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    const name = randomName(rng, i);
    if (used.has(name) || name === '__metadata__') continue;
    used.add(name);
    const dtype = rng.pick(DTYPES);
    const shape = randomShape(rng, dtype);
    const bytes = (shape.reduce((a, b) => a * b, 1) * DTYPE_BITS[dtype as 'U8']) / 8;
    const fields = [
      `${w()}"dtype"${w()}:${w()}${quote(rng, dtype)}`,
      `${w()}"shape"${w()}:${w()}[${w()}${shape.join(`${w()},${w()}`)}${w()}]`,
      `${w()}"data_offsets"${w()}:${w()}[${w()}${at}${w()},${w()}${at + bytes}${w()}]`,
    ];
    at += bytes;
    for (let k = fields.length - 1; k > 0; k--) {
      const j = rng.int(k + 1);
      [fields[k], fields[j]] = [fields[j] as string, fields[k] as string];
    }
    members.push(`${w()}${quote(rng, name)}${w()}:${w()}{${fields.join(',')}${w()}}`);
  }
  if (rng.int(2) === 0) {
    const pairs: string[] = [];
    const keys = new Set<string>();
    for (let i = rng.int(5); i > 0; i--) {
      const k = rng.pick(['format', 'ss_tag_frequency', '0', '__proto__', 'ключ', `k${i}`]);
      if (keys.has(k)) continue;
      keys.add(k);
      const v = rng.pick(['pt', '{"a": 1, "b\\\\": [2]}', 'ünï\n"x"', '', '🙂'.repeat(3)]);
      pairs.push(`${w()}${quote(rng, k)}${w()}:${w()}${quote(rng, v)}`);
    }
    members.splice(
      rng.int(members.length + 1),
      0,
      `${w()}"__metadata__"${w()}:${w()}{${pairs.join(',')}${w()}}`,
    );
  }
  for (let k = members.length - 1; k > 0; k--) {
    const j = rng.int(k + 1);
    [members[k], members[j]] = [members[j] as string, members[k] as string];
  }
  return { text: `${w()}{${members.join(',')}${w()}}${w()}`, data: at };
}

function safetensorsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) safetensorsFiles(p, out);
    else if (name.endsWith('.safetensors')) out.push(p);
  }
  return out;
}

/** Every header the error-list tests of safetensors.test.ts refuse, with the data length they use. */
const BROKEN: [string, number][] = [
  ['{"a":', 0],
  ['[]', 0],
  ['"x"', 0],
  ['null', 0],
  ['\uFEFF{}', 0],
  ['{"x":5}', 1],
  ['{"x":{"shape":[1],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1]}}', 1],
  ['{"x":{"dtype":8,"shape":[1],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[-0],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":{"begin":0}}}', 1],
  ['{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1152921504606846976]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,9007199254740992]}}', 1],
  ['{"x":{"dtype":"U8","shape":[18446744073709551614],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1e400],"data_offsets":[0,1]}}', 1],
  ['{"__metadata__":{"epoch":3}}', 0],
  ['{"__metadata__":{"a":{"b":"c"}}}', 0],
  ['{"__metadata__":["a"]}', 0],
  ['{"__metadata__":"a"}', 0],
  ['{"__metadata__":null}', 0],
  ['{"__metadata__":{"dtype":"a","shape":"b","data_offsets":"c"}}', 0],
  ['{"x":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16],
  ['{"x":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', 4],
  [
    '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
    2,
  ],
  ['{"x":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}', 1],
  [
    '{"ab":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a\\u0062":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
    2,
  ],
  ['{"__metadata__":{"k":"1","k":"2"}}', 0],
  ['{"__metadata__":{},"__metadata__":{}}', 0],
  ['{"__metadata__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1],
  ['{"__metad\\u0061ta__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2],
  [
    '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}',
    5,
  ],
  [
    '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
    3,
  ],
  [
    '{"x":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"y":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}',
    2,
  ],
  [`{"x":{"dtype":"F32","shape":[${2 ** 40},${2 ** 40}],"data_offsets":[0,4]}}`, 4],
  ['{"x":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', 2],
  ['{"x":{"dtype":"F6_E2M3","shape":[3],"data_offsets":[0,3]}}', 3],
  ['{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', 12],
  [`{"x":{"dtype":"F32","shape":[${2 ** 26},${2 ** 26}],"data_offsets":[0,4]}}`, 4],
  ['{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', 5],
  ['{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', 3],
  ['{}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":{"nested":[1]}}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}\u0000', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},}', 1],
  ['{"x":{"dtype":"U8","shape":[1,],"data_offsets":[0,1]}}', 1],
  ['{"x\u0001":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}', 1],
  ['{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1', 1],
  ['{"x', 1],
  ['{"x\\', 1],
  ['', 0],
  [' ', 0],
];

describe('safetensors fast path: same result as JSON.parse', () => {
  it('generated headers: names with unicode and escapes, any key order, whitespace, metadata, every dtype', async () => {
    const rng = new Rng(7);
    let scanned = 0;
    for (let i = 0; i < 1500; i++) {
      const { text, data } = randomHeader(rng);
      if (await agree(rawFile(text, data), `header ${i}: ${text}`)) scanned++;
    }
    // Every generated header is valid and in the subset: the scanner, not the fallback, read them.
    assert.equal(scanned, 1500);
  });

  it('the samples and every safetensors fixture of the repo', async () => {
    const files = [...safetensorsFiles('samples'), ...safetensorsFiles('test/fixtures')];
    assert.ok(files.length > 50, `${files.length} files`);
    let scanned = 0;
    for (const f of files) if (await agree(new Uint8Array(readFileSync(f)), f)) scanned++;
    // All but the deliberately broken samples are in the subset.
    assert.ok(scanned >= files.length - 10, `${scanned} of ${files.length} scanned`);
  });

  it('every refused header of the error list gets the same code and message', async () => {
    for (const [text, data] of BROKEN) await agree(rawFile(text, data), text);
    const notUtf8 = rawFile('{"a\u00e9":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1);
    notUtf8[12] = 0xff;
    await agree(notUtf8, 'invalid UTF-8 in a name');
    const overlong = rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1);
    overlong.set([0xc0, 0x80], 10); // overlong NUL in place of "a…"
    await agree(overlong, 'overlong UTF-8');
    await agree(rawFile('{}', 0, 3n), 'length past the end');
    await agree(new Uint8Array(7), 'too small');
  });

  it('fuzz: mutated valid headers and sample files fail (or open) the same way', async () => {
    const rng = new Rng(99);
    const seeds = [
      'samples/tiny-llama-lora/adapter_model.safetensors',
      'samples/kohya-style-lora.safetensors',
    ].map((p) => new Uint8Array(readFileSync(p)));
    for (let i = 0; i < 800; i++) {
      const { text, data } = randomHeader(rng);
      // Text-level edits keep the length prefix right, so the scanner sees them.
      const at = rng.int(text.length + 1);
      const edit = rng.pick([
        '',
        ',',
        '"',
        '{',
        '}',
        '[',
        ']',
        '0',
        '9',
        '-',
        '.',
        'e',
        ' ',
        '\\',
        ':',
        'é',
      ]);
      const cut = rng.int(3);
      const mutated = text.slice(0, at) + edit + text.slice(at + cut);
      await agree(
        rawFile(mutated, Math.max(0, data + rng.int(3) - 1)),
        `mutation ${i}: ${mutated}`,
      );
      const base = rng.pick(seeds);
      await agree(mutate(base, rng, seeds), `byte mutation ${i}`);
    }
  });

  it('large canonical headers: entries across the 64 KiB text windows, over-long and non-ASCII names', async () => {
    const rng = new Rng(64);
    for (let round = 0; round < 6; round++) {
      const parts: string[] = ['"__metadata__":{"format":"pt"}'];
      let offset = 0;
      for (let i = 0; i < 900; i++) {
        // Mostly canonical entries of varied length (some far past the 4 KiB slack), a few with
        // non-ASCII names, escapes, whitespace or a number past 2^53 (the byte walk's to decide).
        const len = rng.int(10) === 0 ? 3000 + rng.int(3000) : 10 + rng.int(120);
        let name = `layers.${i}.${'w'.repeat(len)}`;
        if (rng.int(40) === 0) name += '.é';
        const dims = rng.int(3) === 0 ? [] : [1 + rng.int(4), 2];
        const bytes = dims.reduce((a, b) => a * b, 1) * 2;
        const end = round === 5 && i === 700 ? '9007199254740993' : String(offset + bytes);
        const sep = rng.int(60) === 0 ? ' ' : '';
        parts.push(
          `${JSON.stringify(name)}:${sep}{"dtype":"F16","shape":${JSON.stringify(dims)},"data_offsets":[${offset},${end}]}`,
        );
        offset += bytes;
      }
      const text = `{${parts.join(',')}}`;
      assert.ok(text.length > 3 * 65536, String(text.length));
      await agree(rawFile(text, offset), `round ${round}`);
    }
  });
});
