/**
 * What each fuzz target feeds its inputs to, and what counts as a crash. A target turns one random
 * draw into one input and runs it; the outcome is `ok`, a named refusal (its code), or a thrown crash.
 *
 * - formats:  every reader, on mutated bytes of every sample (the original target);
 * - quant:    a model folder in memory (weights + config.json), with the bytes or the
 *             quantization_config mutated, opened as openPath does and dequantized row by row;
 * - messages: random and mutated webview → host requests, through the validator and a host whose
 *             handlers re-check what they receive (a handler seeing bad params is a crash).
 */
import {
  CheckpointError,
  checkRelativePath,
  logicalView,
  MemoryByteSource,
  openFolder,
  READERS,
  type ByteSource,
  type Siblings,
} from '../../src/core/formats/index.js';
import {
  isQuantizedCheckpoint,
  type QuantizedCheckpoint,
} from '../../src/core/formats/quant/logicalView.js';
import type { Method } from '../../src/shared/protocol.js';
import { mutate, Rng } from './mutate.js';
import { mutateJson, randomValue } from './mutateValues.js';
import {
  checkHostMessage,
  checkRequest,
  declaredFields,
  REQUEST_METHODS,
} from '../../src/shared/messageValidation.js';
import { VALID_PARAMS } from '../../test/shared/validMessages.js';

export type TargetName = 'formats' | 'quant' | 'messages';
export const TARGETS: readonly TargetName[] = ['formats', 'quant', 'messages'];

export interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** quant seeds: config.json text beside the weights. */
  readonly config?: string;
}

export interface Outcome {
  readonly ok: number;
  readonly codes: readonly string[];
}

export class Crash extends Error {
  constructor(
    readonly where: string,
    readonly detail: string,
  ) {
    super(`${where}: ${detail}`);
  }
}

/**
 * One target: `make` draws an input from the generator alone (so the main thread can rebuild the
 * input of a hung worker from its seed and iteration), `run` feeds it and throws Crash on a crash.
 */
export interface Target<I> {
  make(rng: Rng, seeds: readonly Seed[], seedBytes: readonly Uint8Array[]): I;
  run(input: I): Promise<Outcome>;
  /** The input as bytes, to save beside a failure. */
  save(input: I): Uint8Array;
  label(input: I): string;
}

function named(e: unknown): string | null {
  return e instanceof CheckpointError && e.code !== 'InternalError' ? e.code : null;
}

const describeError = (e: unknown) =>
  e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);

interface BytesInput {
  readonly name: string;
  readonly bytes: Uint8Array;
}

const formats: Target<BytesInput> = {
  make(rng, seeds, seedBytes) {
    const base = rng.pick(seeds);
    return { name: base.name, bytes: mutate(base.bytes, rng, seedBytes) };
  },
  async run({ name, bytes }) {
    const codes: string[] = [];
    let ok = 0;
    for (const reader of READERS) {
      try {
        const ckpt = await reader.open(new MemoryByteSource(bytes, name));
        void ckpt.tensors.length;
        const t = ckpt.tensors[0];
        if (t && t.byteLength < 1 << 20)
          await ckpt.readTensorBytes(t).catch((e: unknown) => {
            const c = named(e);
            if (!c) throw e;
            codes.push(c);
          });
        await ckpt.close();
        ok++;
      } catch (e) {
        const c = named(e);
        if (!c) throw new Crash(`${reader.format} on a mutation of ${name}`, describeError(e));
        codes.push(c);
      }
    }
    return { ok, codes };
  },
  save: ({ bytes }) => bytes,
  label: ({ name }) => name,
};

/** A folder in memory: the weights file and its config.json. */
class MemoryFolder implements Siblings {
  readonly label = 'fuzz folder';
  constructor(private readonly files: Readonly<Record<string, Uint8Array>>) {}
  private file(p: string): Uint8Array | undefined {
    return this.files[checkRelativePath(p, this.label)];
  }
  async open(p: string): Promise<ByteSource> {
    const bytes = this.file(p);
    if (!bytes) throw new CheckpointError('FileNotFound', `no ${p}`, p);
    return new MemoryByteSource(bytes, p);
  }
  async exists(p: string): Promise<boolean> {
    return this.file(p) !== undefined;
  }
  async size(p: string): Promise<number> {
    return this.file(p)?.length ?? 0;
  }
  async list(): Promise<string[]> {
    return Object.keys(this.files).sort();
  }
}

/** Rows dequantized per weight: enough to run every scheme's unpacking, bounded per input. */
const ROWS_PER_WEIGHT = 4;
const MAX_WEIGHTS = 8;

interface QuantInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly config: string | undefined;
}

const quant: Target<QuantInput> = {
  make(rng, seeds, seedBytes) {
    const base = rng.pick(seeds);
    const roll = rng.int(10);
    const bytes = roll < 6 ? mutate(base.bytes, rng, seedBytes) : base.bytes;
    const config =
      base.config !== undefined && roll >= 3 ? mutateJson(base.config, rng) : base.config;
    return { name: base.name, bytes, config };
  },
  async run({ name, bytes, config }) {
    const files: Record<string, Uint8Array> = { 'model.safetensors': bytes };
    if (config !== undefined) files['config.json'] = new TextEncoder().encode(config);
    try {
      const ckpt = await logicalView(await openFolder(new MemoryFolder(files)));
      try {
        if (isQuantizedCheckpoint(ckpt)) await dequantizeSome(ckpt);
      } finally {
        await ckpt.close();
      }
      return { ok: 1, codes: [] };
    } catch (e) {
      const c = named(e);
      if (!c) throw new Crash(`quant on a mutation of ${name}`, describeError(e));
      return { ok: 0, codes: [c] };
    }
  },
  save: ({ bytes, config }) => packQuantInput(bytes, config),
  label: ({ name }) => name,
};

/** The first rows of the first weights: every scheme's unpacking runs, the work stays bounded. */
async function dequantizeSome(ckpt: QuantizedCheckpoint): Promise<void> {
  let n = 0;
  for (const w of ckpt.tensors) {
    if (!w.quant || !ckpt.quantized.has(w.name)) continue;
    if (n++ >= MAX_WEIGHTS) break;
    const rows = Math.min(ROWS_PER_WEIGHT, w.shape[0] ?? 0);
    const cols = rows === 0 ? 0 : w.parameterCount / (w.shape[0] ?? 1);
    if (rows * cols > 1 << 22) continue; // a claimed shape this large is the reader's to refuse
    try {
      await ckpt.dequantizeRows(w, 0, rows, new Float32Array(rows * cols));
    } catch (e) {
      if (!named(e)) throw e;
    }
  }
}

/** A quant input saved for replay: the config's length, the config, then the weights. */
function packQuantInput(bytes: Uint8Array, config: string | undefined): Uint8Array {
  const c = new TextEncoder().encode(config ?? '');
  const out = new Uint8Array(4 + c.length + bytes.length);
  new DataView(out.buffer).setUint32(0, c.length, true);
  out.set(c, 4);
  out.set(bytes, 4 + c.length);
  return out;
}

/** What a handler may assume about its params once the validator let them through. */
const fieldsOf = (method: string): string[] =>
  (REQUEST_METHODS as readonly string[]).includes(method)
    ? declaredFields(method as Method).map((f) => f.replace(/\?$/, ''))
    : [];

function paramsBreakContract(method: string, params: Record<string, unknown>): string | null {
  const fields = new Set(fieldsOf(method));
  for (const k of Object.keys(params)) if (!fields.has(k)) return `undeclared field ${k}`;
  const ENUMS: Record<string, readonly string[]> = {
    tree: ['file', 'base'],
    grouping: ['tree', 'flat', 'module'],
  };
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    const allowed = ENUMS[k];
    if (allowed && !allowed.includes(v as string)) return `${k}=${String(v)}`;
    if (k === 'expanded' && typeof v !== 'boolean') return `expanded is a ${typeof v}`;
    if (typeof v === 'number' && !(Number.isInteger(v) && v >= 0 && v < 2 ** 31))
      return `${k}=${v}`;
    if (typeof v === 'string' && v.length > 1 << 20) return `${k} is ${v.length} characters`;
    if (typeof v === 'object' && v !== null) return `${k} is an object`;
    if (typeof v === 'bigint' || typeof v === 'symbol' || typeof v === 'function')
      return `${k} is a ${typeof v}`;
  }
  return null;
}

const messages: Target<unknown> = {
  make(rng) {
    if (rng.int(10) < 2) return randomValue(rng, 3);
    const method = rng.int(20) === 0 ? String(randomValue(rng, 0)) : rng.pick(REQUEST_METHODS);
    const valid = (VALID_PARAMS as Record<string, Record<string, unknown>>)[method] ?? {};
    const params: Record<string, unknown> = { ...valid };
    const keys = [...fieldsOf(method), 'extra', '__proto__', 'constructor'];
    for (let i = 1 + rng.int(3); i > 0; i--) {
      const key = rng.pick(keys);
      if (rng.int(4) === 0) Reflect.deleteProperty(params, key);
      else params[key] = randomValue(rng, 2);
    }
    const envelope: Record<string, unknown> = {
      kind: rng.int(12) === 0 ? randomValue(rng, 0) : 'request',
      id: rng.int(8) === 0 ? randomValue(rng, 0) : rng.int(1000),
      method,
      params: rng.int(15) === 0 ? randomValue(rng, 1) : params,
    };
    if (rng.int(20) === 0) envelope[String(randomValue(rng, 0))] = randomValue(rng, 1);
    return envelope;
  },
  run(message) {
    let r;
    try {
      r = checkRequest(message);
      checkHostMessage(message);
    } catch (e) {
      throw new Crash('messages: the validator threw', describeError(e));
    }
    if (!r.ok) return Promise.resolve({ ok: 0, codes: [r.error.code] });
    const params = r.message.params as Record<string, unknown>;
    const broken = paramsBreakContract(r.message.method, params);
    if (broken) throw new Crash(`messages: ${r.message.method} let through bad params`, broken);
    return Promise.resolve({ ok: 1, codes: [] });
  },
  save: (message) => {
    try {
      const text = JSON.stringify(message, (_k, v: unknown) =>
        typeof v === 'bigint' ? `${v}n` : v,
      );
      return new TextEncoder().encode(text ?? String(message));
    } catch {
      return new TextEncoder().encode(String(message));
    }
  },
  label: () => 'message.json',
};

export const TARGET_IMPLS: { readonly [T in TargetName]: Target<never> } = {
  formats: formats as Target<never>,
  quant: quant as Target<never>,
  messages: messages as Target<never>,
};
