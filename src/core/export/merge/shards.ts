/**
 * How a merged model is split into safetensors shards, named as transformers names them
 * (`model-00001-of-00003.safetensors` + `model.safetensors.index.json`), so `from_pretrained` loads it.
 */
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../../formats/errors.js';

/** transformers' default `max_shard_size` is 5 GB in recent versions; we split at 5 GiB by default. */
export const DEFAULT_MAX_SHARD_BYTES = 5 * 1024 ** 3;

export interface ShardPlan<T> {
  /** Output file path of each shard, in order. */
  readonly files: readonly string[];
  /** The tensors of each shard. */
  readonly shards: readonly (readonly T[])[];
  /** The index file, when there is more than one shard. */
  readonly index: string | null;
}

/** Parses `5GB`, `500MiB`, `2000000` (bytes). */
export function parseShardSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i.exec(text);
  if (!m)
    throw new CheckpointError(
      'InvalidExport',
      `shard size "${text}" is not a size (e.g. 5GB, 500MiB, or a number of bytes)`,
    );
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
    tib: 1024 ** 4,
  };
  const bytes = Math.floor(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw new CheckpointError('InvalidExport', `shard size "${text}" must be at least 1 byte`);
  return bytes;
}

/**
 * Greedy in the base's tensor order, as transformers' `shard_checkpoint` does: a tensor larger than
 * the limit gets a shard of its own.
 */
export function planShards<T>(
  outPath: string,
  items: readonly T[],
  bytesOf: (t: T) => number,
  maxShardBytes: number,
): ShardPlan<T> {
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const b = bytesOf(item);
    if (current.length > 0 && size + b > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += b;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  if (shards.length === 1) return { files: [outPath], shards, index: null };
  const stem = basename(outPath).replace(/\.safetensors$/i, '');
  const n = String(shards.length).padStart(5, '0');
  const files = shards.map((_, i) =>
    join(dirname(outPath), `${stem}-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`),
  );
  return { files, shards, index: join(dirname(outPath), `${stem}.safetensors.index.json`) };
}
