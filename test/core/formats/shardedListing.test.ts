import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../../src/core/smoke/reference.js';
import { MemoryByteSource } from '../../../src/core/formats/byteSource.js';
import type { Checkpoint, TensorInfo } from '../../../src/core/formats/checkpoint.js';
import { CheckpointError } from '../../../src/core/formats/errors.js';
import type { Siblings } from '../../../src/core/formats/files.js';
import { openShardedIndex } from '../../../src/core/formats/sharded.js';

type Shards = Record<string, string[]>; // shard file → its tensor names, in data order

function fakeShard(names: readonly string[]): Checkpoint {
  // Headers list tensors in any order; data order is by offset.
  const tensors: TensorInfo[] = names.map((name, i) => ({
    name,
    dtype: 'F16',
    shape: [2],
    offset: i * 4,
    byteLength: 4,
    parameterCount: 2,
  }));
  tensors.reverse();
  return {
    tensors,
    metadata: {},
    fileSize: 8 + names.length * 4,
    headerByteLength: 8,
    close: async () => undefined,
  } as unknown as Checkpoint;
}

function siblings(indexText: string, shards: Shards): Siblings {
  const bytes = new TextEncoder().encode(indexText);
  return {
    label: 'fake',
    open: async () => new MemoryByteSource(bytes),
    exists: async (p) => p === 'index.json' || p in shards,
    size: async () => bytes.length,
    list: async () => ['index.json', ...Object.keys(shards)],
  };
}

interface Listing {
  readonly tensors: string[];
  readonly warnings: string[];
}

/** What the index and shards must give, straight from the rules (every tensor looked up). */
function reference(map: Record<string, string>, shards: Shards): Listing | string {
  const tensors: string[] = [];
  const warnings: string[] = [];
  // Only the shards the index names are opened.
  for (const shard of [...new Set(Object.values(map))].sort()) {
    const own = shards[shard] as string[];
    const extra = own.filter((n) => map[n] !== shard);
    tensors.push(...own.filter((n) => map[n] === shard).map((n) => `${shard}:${n}`));
    if (extra.length)
      warnings.push(
        `${shard} holds ${extra.length} tensor(s) the index does not list (e.g. "${extra[0]}"); they are not shown`,
      );
  }
  const held = new Set(tensors.map((l) => l.slice(l.indexOf(':') + 1)));
  for (const [n, shard] of Object.entries(map))
    if (!held.has(n))
      return `ShardTensorMissing: index.json says tensor "${n}" is in ${shard}, but that shard does not hold it`;
  return { tensors, warnings };
}

async function listing(text: string, shards: Shards): Promise<Listing | string> {
  try {
    const ckpt = await openShardedIndex(siblings(text, shards), 'index.json', async (_s, f) =>
      fakeShard(shards[f] as string[]),
    );
    return {
      tensors: ckpt.tensors.map((t) => `${t.file}:${t.name}`),
      warnings: (ckpt.warnings ?? []).filter((w) => w.includes('the index does not list')),
    };
  } catch (e) {
    assert.ok(e instanceof CheckpointError, String(e));
    return `${e.code}: ${e.message}`;
  }
}

describe('sharded listing: the in-order walk agrees with looking every tensor up', () => {
  it('on 400 seeded indexes: sorted, in data order, scrambled, with tensors missing, unlisted or moved', async () => {
    const r = mulberry32(4);
    for (let round = 0; round < 400; round++) {
      const files = ['a.safetensors', 'b.safetensors', 'c.safetensors'].slice(
        0,
        1 + Math.floor(r() * 3),
      );
      const shards: Shards = {};
      const names = Array.from({ length: 1 + Math.floor(r() * 30) }, (_, i) => `layers.${i}.w`);
      for (const f of files) shards[f] = [];
      for (const n of names)
        (shards[files[Math.floor(r() * files.length)] as string] as string[]).push(n);
      // Shards in name order (as safetensors writes), or in model order.
      if (r() < 0.5) for (const f of files) (shards[f] as string[]).sort();
      const map: Record<string, string> = {};
      for (const f of files) for (const n of shards[f] as string[]) map[n] = f;
      let keys = Object.keys(map);
      const kind = r();
      if (kind < 0.35) keys.sort();
      else if (kind < 0.5) keys.reverse();
      else if (kind < 0.6) keys = keys.sort(() => r() - 0.5);
      const edit = r();
      if (edit < 0.1 && keys.length > 1)
        keys.splice(Math.floor(r() * keys.length), 1); // unlisted
      else if (edit < 0.2) {
        keys.push('not.held'); // missing
        map['not.held'] = files[0] as string;
      } else if (edit < 0.3 && files.length > 1) {
        const k = keys[Math.floor(r() * keys.length)] as string;
        map[k] = files.find((f) => f !== map[k]) as string; // moved
      } else if (edit < 0.4 && keys.length > 1) {
        // Two names swap shards (counts unchanged), or one is renamed (count unchanged, not held).
        const [x, y] = [keys[0] as string, keys[keys.length - 1] as string];
        if (r() < 0.5) [map[x], map[y]] = [map[y] as string, map[x] as string];
        else {
          keys[0] = `${x}.renamed`;
          map[`${x}.renamed`] = map[x] as string;
        }
      } else if (edit < 0.45 && files.length > 1) {
        // The same name held by two shards.
        const k = keys[0] as string;
        const other = files.find((f) => f !== map[k]) as string;
        (shards[other] as string[]).push(k);
      }
      const index: Record<string, string> = {};
      for (const k of keys) index[k] = map[k] as string;
      const text = JSON.stringify({ metadata: {}, weight_map: index });
      assert.deepEqual(await listing(text, shards), reference(index, shards), text);
    }
  });
});
