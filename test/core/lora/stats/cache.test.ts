import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import {
  computeAllStats,
  computeModuleStats,
  fileKey,
  STATS_VERSION,
  StatsCache,
  type ModuleStats,
  type StatsCacheData,
} from '../../../../src/core/lora/stats/index.js';
import { REPO } from '../loraTestInfo.js';
import { analyzeCheckpoint, loggedCheckpoint, memAdapter, seeded } from './statsKit.js';

const stub = (module: string): ModuleStats => ({
  module,
  kind: 'linear',
  norm: 1,
  normUnscaled: 1,
  effectiveScale: 1,
  maxAbs: {},
  parts: {},
  nanCount: 0,
  infCount: 0,
  zeroB: false,
  bytesRead: 0,
  ms: 0,
});

describe('LoRA stats: cache', () => {
  it('a second pass over the same file reads no bytes', async () => {
    const p = 'lora_te_text_model_encoder_layers_0_mlp_fc1';
    const { ckpt, source, analysis } = await memAdapter([
      { name: `${p}.lora_down.weight`, shape: [2, 8], values: seeded(16, 1) },
      { name: `${p}.lora_up.weight`, shape: [6, 2], values: seeded(12, 2) },
      { name: `${p}.alpha`, shape: [], values: [1] },
    ]);
    const cache = new StatsCache();
    const ref = { cache, file: fileKey('sha256:abc') };
    const first = await computeAllStats(ckpt, analysis, { cache: ref });
    assert.ok(source.bytesRead > 0);
    assert.equal(first[0]?.bytesRead, source.bytesRead);
    source.bytesRead = 0;
    source.reads = 0;
    const cached: boolean[] = [];
    const second = await computeAllStats(ckpt, analysis, {
      cache: ref,
      onProgress: (p) => cached.push(p.cached),
    });
    assert.deepEqual([source.reads, source.bytesRead], [0, 0]);
    assert.deepEqual(cached, [true]);
    assert.deepEqual(second, first);
    // Another version of the file is another key.
    await computeModuleStats(ckpt, analysis.modules[0] as never, {
      cache: { cache, file: fileKey({ path: '/a.safetensors', size: 10, mtimeMs: 2 }) },
    });
    assert.ok(source.reads > 0);
    assert.equal(cache.size, 2);
  });

  it('real files: keyed by path/size/mtime, every module cached', async () => {
    const ckpt = await openPath(join(REPO, 'samples/tiny-llama-lora'));
    const analysis = await analyzeCheckpoint(ckpt);
    const cache = new StatsCache();
    const file = fileKey({ path: 'samples/tiny-llama-lora', size: ckpt.fileSize, mtimeMs: 1 });
    await computeAllStats(ckpt, analysis, { cache: { cache, file } });
    await ckpt.close();
    assert.equal(cache.size, analysis.modules.length);
    for (const m of analysis.modules) assert.equal(cache.get(file, m.name)?.module, m.name);
  });

  it('errors are not cached (the next try reads again)', async () => {
    const cache = new StatsCache();
    const { ckpt, analysis } = await memAdapter([
      { name: 'x.lora_down.weight', shape: [1, 2], values: [1, 2] },
      { name: 'x.lora_up.weight', shape: [2, 1], values: [1, 2] },
    ]);
    const m = analysis.modules[0];
    assert.ok(m);
    const { ckpt: broken } = loggedCheckpoint(ckpt, {
      onRead: () => {
        throw new Error('disk gone');
      },
    });
    const s = await computeModuleStats(broken, m, { cache: { cache, file: 'f' } });
    assert.equal(s.error, 'disk gone');
    assert.equal(cache.size, 0);
  });

  it('LRU: the least recently used entry goes first', () => {
    const cache = new StatsCache({ maxEntries: 2 });
    cache.set('f', 'a', stub('a'));
    cache.set('f', 'b', stub('b'));
    assert.ok(cache.get('f', 'a'));
    cache.set('f', 'c', stub('c'));
    assert.deepEqual(
      ['a', 'b', 'c'].map((m) => cache.get('f', m) !== undefined),
      [true, false, true],
    );
    cache.clear('f');
    assert.equal(cache.size, 0);
  });

  it('persistence: save hands over plain JSON, load restores it; another version is ignored', async () => {
    let stored: unknown;
    const persistence = {
      load: () => stored,
      save: (data: StatsCacheData) => {
        stored = JSON.parse(JSON.stringify(data));
      },
    };
    const a = new StatsCache({ persistence });
    a.set('f1', 'm1', stub('m1'));
    a.set('f2', 'm2', stub('m2'));
    await a.save();
    assert.equal((stored as StatsCacheData).version, STATS_VERSION);

    const b = new StatsCache({ persistence, maxEntries: 2 });
    b.set('f3', 'm3', stub('m3'));
    await b.load();
    // Loaded entries are older than what was already in memory: m1 is dropped first.
    assert.deepEqual(
      [b.get('f1', 'm1'), b.get('f2', 'm2')?.module, b.get('f3', 'm3')?.module],
      [undefined, 'm2', 'm3'],
    );

    stored = { version: STATS_VERSION + 1, entries: (stored as StatsCacheData).entries };
    const c = new StatsCache({ persistence });
    await c.load();
    assert.equal(c.size, 0);
    stored = { version: STATS_VERSION, entries: [{ file: 'f', module: 'x', stats: null }, 3] };
    await c.load();
    assert.equal(c.size, 0, 'malformed entries are skipped');
  });
});
