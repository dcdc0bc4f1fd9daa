/**
 * Value-level mutations: random structured-clone values (what a webview's postMessage can carry) and
 * JSON documents with one value changed, a key dropped, or the text broken (config.json cases).
 */
import type { Rng } from './mutate.js';

const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  7,
  8,
  16,
  32,
  64,
  128,
  255,
  256,
  1023,
  4096,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  1e308,
  NaN,
  Infinity,
  -Infinity,
];
const STRINGS = [
  '',
  'a',
  'tree',
  'base',
  'file',
  'flat',
  'module',
  '__proto__',
  'constructor',
  'toString',
  'gptq',
  'awq',
  'nf4',
  'fp4',
  'int8',
  '\u0000',
  '\ud800',
  'model.layers.0.self_attn.q_proj',
  '{"a":1}',
  'null',
];

export function randomValue(rng: Rng, depth: number): unknown {
  switch (rng.int(depth > 0 ? 14 : 10)) {
    case 0:
      return rng.pick(NUMBERS);
    case 1:
      return rng.int(2 ** 31) - (rng.int(2) ? 0 : 2 ** 30);
    case 2:
      return rng.pick(STRINGS);
    case 3:
      return rng.int(40) === 0
        ? 'x'.repeat(70_000 + rng.int(1 << 20))
        : String.fromCharCode(...Array.from({ length: rng.int(12) }, () => rng.int(0x3000)));
    case 4:
      return rng.int(2) === 0;
    case 5:
      return null;
    case 6:
      return undefined;
    case 7:
      return BigInt(rng.int(1000)) - 500n;
    case 8:
      return new Uint8Array(rng.int(16));
    case 9:
      return new Date(rng.int(2 ** 31));
    case 10:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth - 1));
    case 11: {
      const o: Record<string, unknown> =
        rng.int(4) === 0 ? (Object.create(null) as Record<string, unknown>) : {};
      for (let i = rng.int(4); i > 0; i--)
        o[String(rng.pick(STRINGS))] = randomValue(rng, depth - 1);
      return o;
    }
    case 12:
      return new Map([[randomValue(rng, 0), randomValue(rng, depth - 1)]]);
    default:
      return new Set([randomValue(rng, 0)]);
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function jsonValue(rng: Rng): Json {
  const v = randomValue(rng, 1);
  if (
    v === undefined ||
    typeof v === 'bigint' ||
    v instanceof Map ||
    v instanceof Set ||
    v instanceof Date ||
    v instanceof Uint8Array
  )
    return rng.pick(NUMBERS.filter(Number.isFinite));
  if (typeof v === 'number' && !Number.isFinite(v)) return 1e308;
  try {
    return JSON.parse(JSON.stringify(v)) as Json;
  } catch {
    return null;
  }
}

/** Every container in `doc` with the key or index that leads to it. */
function containers(
  doc: Json,
  out: { parent: Json[] | { [k: string]: Json }; key: string | number }[] = [],
) {
  if (Array.isArray(doc))
    doc.forEach((v, i) => {
      out.push({ parent: doc, key: i });
      containers(v, out);
    });
  else if (doc && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) {
      out.push({ parent: doc, key: k });
      containers(v, out);
    }
  return out;
}

/** `text` (a JSON document) with 1–3 value changes, or broken as text one time in eight. */
export function mutateJson(text: string, rng: Rng): string {
  if (rng.int(8) === 0) {
    const cut = rng.int(text.length + 1);
    return rng.int(2)
      ? text.slice(0, cut)
      : text.slice(0, cut) + rng.pick(['{', '}', '"', ',', 'NaN', '\u0000']) + text.slice(cut);
  }
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch {
    return text;
  }
  for (let i = 1 + rng.int(3); i > 0; i--) {
    const slots = containers(doc);
    if (slots.length === 0) break;
    const { parent, key } = rng.pick(slots);
    if (!Array.isArray(parent) && rng.int(5) === 0) Reflect.deleteProperty(parent, key);
    else (parent as Record<string | number, Json>)[key] = jsonValue(rng);
  }
  return JSON.stringify(doc);
}
