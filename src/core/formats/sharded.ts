import type {
  Checkpoint,
  CheckpointInfo,
  ElementRange,
  PlainValue,
  TensorInfo,
} from './checkpoint.js';
import { TensorIndex, tensorTotals } from './tensorTable.js';
import { CheckpointError } from './errors.js';
import { checkRelativePath, type Siblings } from './files.js';
import { isPlainObject, parseJsonText, readJsonText } from './jsonFile.js';
import { scanShardIndex, type ScannedIndex } from './shardIndexScan.js';

/** huggingface.js caps: an index is JSON, so bound what we parse. */
const MAX_INDEX_BYTES = 250 * 1024 * 1024;
const MAX_WEIGHT_MAP_ENTRIES = 1_000_000;
const MAX_SHARDS = 10_000;

export type OpenShard = (siblings: Siblings, shard: string) => Promise<Checkpoint>;

export function isShardIndexName(name: string): boolean {
  return /\.(safetensors|bin)\.index\.json$/i.test(name);
}

interface ParsedIndex {
  /** Tensor name → shard file (checked). */
  readonly weightMap: WeightMap;
  readonly shards: string[];
  readonly metadata: Record<string, PlainValue>;
  readonly totalSize: number | undefined;
}

/** The index's weight_map over the scanned arrays; its name → shard map is built on first lookup. */
class WeightMap {
  constructor(
    readonly names: readonly string[],
    readonly shardOf: readonly number[],
    /** Checked shard path, by shard number. */
    readonly checked: readonly string[],
    private byName: Map<string, number> | undefined,
  ) {}

  get size(): number {
    return this.names.length;
  }

  get(tensor: string): string | undefined {
    this.byName ??= nameMap(this.names, this.shardOf);
    const id = this.byName.get(tensor);
    return id === undefined ? undefined : this.checked[id];
  }

  *entries(): Generator<[string, string]> {
    for (let i = 0; i < this.names.length; i++)
      yield [this.names[i] as string, this.checked[this.shardOf[i] as number] as string];
  }
}

function nameMap(names: readonly string[], shardOf: readonly number[]): Map<string, number> {
  const byName = new Map<string, number>();
  for (let i = 0; i < names.length; i++) byName.set(names[i] as string, shardOf[i] as number);
  return byName;
}

/** Names in strictly ascending order (transformers writes the index with sorted keys): none repeats. */
function strictlyAscending(names: readonly string[]): boolean {
  for (let i = 1; i < names.length; i++)
    if (!((names[i - 1] as string) < (names[i] as string))) return false;
  return true;
}

const indexError = (indexName: string, what: string) =>
  new CheckpointError('InvalidIndex', `${indexName}: ${what}`, indexName);

/** The index as JSON.parse reads it, in the scanner's shape (the fallback, and every error's wording). */
function fromJson(raw: unknown, indexName: string): ScannedIndex {
  if (!isPlainObject(raw)) throw indexError(indexName, 'the index must be a JSON object');
  const { weight_map: map, ...members } = raw;
  if (!isPlainObject(map)) return { members: raw, weightMap: undefined };
  const names = Object.keys(map);
  const shardOf: number[] = [];
  const files: string[] = [];
  if (names.length > MAX_WEIGHT_MAP_ENTRIES)
    return { members, weightMap: { names, shardOf, files } };
  const ids = new Map<string, number>();
  for (const tensor of names) {
    const shard = map[tensor];
    if (typeof shard !== 'string' || shard.length === 0)
      throw indexError(
        indexName,
        `"weight_map" gives tensor "${tensor}" a shard that is not a file name`,
      );
    let id = ids.get(shard);
    if (id === undefined) {
      id = files.length;
      files.push(shard);
      ids.set(shard, id);
    }
    shardOf.push(id);
  }
  return { members, weightMap: { names, shardOf, files } };
}

/** Checks a scanned index; undefined when its weight_map repeats a name (JSON.parse decides those). */
function parseIndex(scanned: ScannedIndex, indexName: string): ParsedIndex | undefined {
  const bad = (what: string) => indexError(indexName, what);
  const { members, weightMap: map } = scanned;
  if (!map || members.weight_map !== undefined)
    throw bad('"weight_map" must be an object of tensor name → shard file');
  const { names, shardOf, files } = map;
  if (names.length > MAX_WEIGHT_MAP_ENTRIES)
    throw new CheckpointError(
      'LimitExceeded',
      `${indexName}: more than ${MAX_WEIGHT_MAP_ENTRIES} weight_map entries`,
    );
  // A real index names a handful of shards a million times over: check each distinct name once, in
  // order of first appearance (so the first bad entry is the one named).
  const checked = files.map((file, id) => {
    if (file.length === 0)
      throw bad(
        `"weight_map" gives tensor "${names[shardOf.indexOf(id)]}" a shard that is not a file name`,
      );
    return checkRelativePath(file, 'the model folder');
  });
  // A repeated name needs the Map to be found; sorted names (the usual index) prove there is none.
  let byName: Map<string, number> | undefined;
  if (!strictlyAscending(names)) {
    byName = nameMap(names, shardOf);
    if (byName.size !== names.length) return undefined;
  }
  const weightMap = new WeightMap(names, shardOf, checked, byName);
  const shards = new Set(checked);
  if (shards.size > MAX_SHARDS)
    throw new CheckpointError('LimitExceeded', `${indexName}: more than ${MAX_SHARDS} shards`);
  const metadata: Record<string, PlainValue> = {};
  if (members.metadata !== undefined && !isPlainObject(members.metadata))
    throw bad('"metadata" must be an object');
  for (const [k, v] of Object.entries(members.metadata ?? {})) metadata[k] = v as PlainValue;
  // Real indexes store total_size as a number, sometimes as a numeric string.
  const ts = metadata.total_size;
  const totalSize =
    typeof ts === 'number'
      ? ts
      : typeof ts === 'string' && /^\d+$/.test(ts)
        ? Number(ts)
        : undefined;
  if (ts !== undefined && (totalSize === undefined || !Number.isSafeInteger(totalSize)))
    throw bad('"metadata.total_size" must be a whole number of bytes');
  return { weightMap, shards: [...shards].sort(), metadata, totalSize };
}

/** Reads the index: the fast scan where the file allows it, else JSON.parse. */
async function readIndex(siblings: Siblings, indexName: string): Promise<ParsedIndex> {
  const text = await readJsonText(siblings, indexName, MAX_INDEX_BYTES, 'InvalidIndex');
  const scanned = scanShardIndex(text, MAX_WEIGHT_MAP_ENTRIES);
  const fast = scanned && parseIndex(scanned, indexName);
  if (fast) return fast;
  const raw = parseJsonText(text, indexName, 'InvalidIndex');
  return parseIndex(fromJson(raw, indexName), indexName) as ParsedIndex;
}

/**
 * A sharded checkpoint (`model.safetensors.index.json`): reads the index and only the headers of its
 * shards. A missing shard, or a weight_map entry that its shard does not hold, is a named error.
 */
export async function openShardedIndex(
  siblings: Siblings,
  indexName: string,
  openShard: OpenShard,
): Promise<Checkpoint> {
  const indexSize = await siblings.size(indexName);
  const index = await readIndex(siblings, indexName);
  const missing: string[] = [];
  for (const shard of index.shards) if (!(await siblings.exists(shard))) missing.push(shard);
  if (missing.length) {
    throw new CheckpointError(
      'MissingShard',
      `${indexName} lists ${missing.length} shard${missing.length === 1 ? '' : 's'} that ${missing.length === 1 ? 'is' : 'are'} not in ${siblings.label}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`,
      missing[0],
    );
  }
  const opened = new Map<string, Checkpoint>();
  for (const shard of index.shards) {
    try {
      opened.set(shard, await openShard(siblings, shard));
    } catch (e) {
      await Promise.all([...opened.values()].map((c) => c.close()));
      if (e instanceof CheckpointError)
        throw new CheckpointError(e.code, `shard ${shard}: ${e.message}`, e.subject ?? shard);
      throw e;
    }
  }
  try {
    return new ShardedCheckpoint(indexName, indexSize, index, opened);
  } catch (e) {
    await Promise.all([...opened.values()].map((c) => c.close()));
    throw e;
  }
}

/**
 * The shards' tensors, when the index lists each shard's tensors exactly and in the shard's data
 * order, as `save_pretrained` writes them (a sorted index; each shard's tensors sorted by name):
 * string comparisons, no hashing of a million names. undefined at the first difference (a tensor
 * missing, unlisted, listed elsewhere or in another order); the caller then looks each one up.
 */
function listedInOrder(
  map: WeightMap,
  shardNames: readonly string[],
  owns: readonly (readonly TensorInfo[])[],
): TensorInfo[] | undefined {
  const ids = new Map<string, number>();
  for (const [id, path] of map.checked.entries()) {
    if (ids.has(path)) return undefined; // two spellings of one shard
    ids.set(path, id);
  }
  // The index positions of each shard's entries, in index order (a counting sort by shard).
  const starts = new Int32Array(map.checked.length + 1);
  for (const id of map.shardOf) (starts[id + 1] as number)++;
  for (let id = 0; id < map.checked.length; id++)
    starts[id + 1] = (starts[id + 1] as number) + (starts[id] as number);
  const next = starts.slice(0, -1);
  const positions = new Int32Array(map.shardOf.length);
  for (const [i, id] of map.shardOf.entries()) positions[(next[id] as number)++] = i;
  const out: TensorInfo[] = [];
  for (const [k, shard] of shardNames.entries()) {
    const own = owns[k] as readonly TensorInfo[];
    const id = ids.get(shard);
    if (id === undefined) return undefined;
    const start = starts[id] as number;
    if ((starts[id + 1] as number) - start !== own.length) return undefined;
    for (let j = 0; j < own.length; j++)
      if (map.names[positions[start + j] as number] !== (own[j] as TensorInfo).name)
        return undefined;
    for (const t of own) out.push(inShard(t, shard));
  }
  return out.length === map.size ? out : undefined;
}

/** `t` with its shard file; a plain safetensors entry is rebuilt as one literal (faster than a spread). */
function inShard(t: TensorInfo, file: string): TensorInfo {
  if (t.role !== undefined || t.storage || t.consumers || t.quant) return { ...t, file };
  return {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    offset: t.offset,
    byteLength: t.byteLength,
    parameterCount: t.parameterCount,
    file,
  };
}

/** One shard of a sharded checkpoint: its file (relative to the index) and its header's length. */
export interface ShardHeader {
  readonly file: string;
  /** How many of the shard's first bytes its reader parsed (safetensors: 8-byte prefix + JSON). */
  readonly headerByteLength: number;
}

/** The shards of a checkpoint opened from a shard index, sorted by file; undefined for any other. */
export function shardHeaders(ckpt: Checkpoint): readonly ShardHeader[] | undefined {
  return ckpt instanceof ShardedCheckpoint ? ckpt.shardHeaders : undefined;
}

class ShardedCheckpoint implements Checkpoint {
  readonly format = 'sharded-safetensors' as const;
  readonly name: string;
  readonly fileSize: number;
  readonly headerByteLength: number;
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly parameterCount: number;
  readonly dataBytes: number;
  readonly dtypes: CheckpointInfo['dtypes'];
  readonly values: Readonly<Record<string, PlainValue>>;
  readonly warnings: readonly string[];
  readonly shardHeaders: readonly ShardHeader[];
  private readonly index: TensorIndex;

  constructor(
    indexName: string,
    indexSize: number,
    index: ParsedIndex,
    private readonly shards: Map<string, Checkpoint>,
  ) {
    this.name = indexName;
    const warnings: string[] = [];
    // Walk each shard's own list (already in data order) instead of looking every index entry up in
    // its shard: the result comes out sorted by file, then offset.
    const shardNames = [...shards.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const owns = shardNames.map((shard) =>
      [...(shards.get(shard) as Checkpoint).tensors].sort((a, b) => a.offset - b.offset),
    );
    let tensors = listedInOrder(index.weightMap, shardNames, owns);
    if (!tensors) {
      tensors = [];
      for (const [k, shard] of shardNames.entries()) {
        let extra = 0;
        let firstExtra: string | undefined;
        for (const t of owns[k] as TensorInfo[]) {
          if (index.weightMap.get(t.name) !== shard) {
            extra++;
            firstExtra ??= t.name;
            continue;
          }
          tensors.push(inShard(t, shard));
        }
        if (extra)
          warnings.push(
            `${shard} holds ${extra} tensor(s) the index does not list (e.g. "${firstExtra}"); they are not shown`,
          );
      }
    }
    if (tensors.length !== index.weightMap.size) {
      // Some entry names a tensor its shard does not hold: find the first, in index order.
      const held = new Set((tensors as TensorInfo[]).map((t) => t.name));
      for (const [tensorName, shard] of index.weightMap.entries()) {
        if (held.has(tensorName)) continue;
        throw new CheckpointError(
          'ShardTensorMissing',
          `${indexName} says tensor "${tensorName}" is in ${shard}, but that shard does not hold it`,
          tensorName,
        );
      }
    }
    this.tensors = tensors;
    this.index = new TensorIndex(tensors);
    const totals = tensorTotals(tensors);
    this.parameterCount = totals.parameterCount;
    this.dataBytes = totals.dataBytes;
    this.dtypes = totals.dtypes;
    const bytes = totals.dataBytes;
    if (index.totalSize !== undefined && index.totalSize !== bytes) {
      warnings.push(
        `TotalSizeMismatch: metadata.total_size says ${index.totalSize} bytes, the shards' tensors add up to ${bytes}`,
      );
    }
    let fileSize = indexSize;
    let headerBytes = indexSize;
    for (const c of shards.values()) {
      fileSize += c.fileSize;
      headerBytes += c.headerByteLength;
    }
    this.fileSize = fileSize;
    this.headerByteLength = headerBytes;
    this.shardHeaders = shardNames.map((file) => ({
      file,
      headerByteLength: (shards.get(file) as Checkpoint).headerByteLength,
    }));
    const metadata = Object.create(null) as Record<string, string>;
    const set = (k: string, v: string) =>
      Object.defineProperty(metadata, k, { value: v, enumerable: true });
    for (const [k, v] of Object.entries(index.metadata))
      set(k, typeof v === 'string' ? v : JSON.stringify(v));
    set('shards', String(shards.size));
    const first = shards.values().next().value as Checkpoint | undefined;
    for (const [k, v] of Object.entries(first?.metadata ?? {})) if (!(k in metadata)) set(k, v);
    this.metadata = metadata;
    this.values = index.metadata;
    this.warnings = warnings;
  }

  tensor(name: string): TensorInfo {
    return this.index.get(name);
  }

  readTensorBytes(
    tensor: TensorInfo,
    range?: ElementRange,
    into?: Uint8Array,
  ): Promise<Uint8Array> {
    const shard = this.shards.get(tensor.file ?? '');
    if (!shard)
      throw new CheckpointError(
        'TensorNotFound',
        `tensor "${tensor.name}" is in no open shard`,
        tensor.name,
      );
    return shard.readTensorBytes(shard.tensor(tensor.name), range, into);
  }

  async close(): Promise<void> {
    await Promise.all([...this.shards.values()].map((c) => c.close()));
  }
}
