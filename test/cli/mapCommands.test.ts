import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  exportText,
  mapExitCode,
  mapText,
  runExport,
  runMap,
  type MapJson,
} from '../../src/cli/mapCommands.js';
import { openPath } from '../../src/core/formats/index.js';
import { analyzeLora } from '../../src/core/lora/index.js';
import { readMappingFile } from '../../src/core/mapping/export/mappingFile.js';

const ADAPTER = 'samples/tiny-llama-lora';
const BASE = 'samples/tiny-llama/model.safetensors';
const Q0 = 'base_model.model.model.layers.0.self_attn.q_proj';

describe('lora-lens map / export', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-mapcli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps the sample adapter onto its base: the contract keys, one entry per module', async () => {
    const j = await runMap(ADAPTER, BASE);
    for (const k of ['mappings', 'unmatchedAdapter', 'unusedBase', 'conflicts'])
      assert.ok(k in j, k);
    assert.equal(j.mappings.length, 8);
    for (const m of j.mappings) {
      assert.deepEqual(Object.keys(m).slice(0, 7), [
        'module',
        'target',
        'confidence',
        'level',
        'reason',
        'transposed',
        'slice',
      ]);
      assert.equal(m.target, `${m.module.replace(/^base_model\.model\./, '')}.weight`);
    }
    assert.deepEqual(j.unmatchedAdapter, []);
    assert.deepEqual(j.conflicts, []);
    assert.equal(mapExitCode(j, true), 0);
    const text = mapText(j);
    assert.ok(text.includes(`${Q0}  →  model.layers.0.self_attn.q_proj.weight`));
    assert.ok(text.startsWith('8 mapped, 0 unmatched'));
    assert.match(j.adapter?.headerSha256 ?? '', /^[0-9a-f]{64}$/);
    assert.match(j.base?.headerSha256 ?? '', /^[0-9a-f]{64}$/);
    // The text output shows no identities, so it need not hash the headers: the rest is the same.
    const bare = await runMap(ADAPTER, BASE, { identities: false });
    assert.equal(bare.adapter, null);
    assert.equal(bare.base, null);
    assert.equal(mapText(bare), text);
    assert.deepEqual({ ...bare, adapter: j.adapter, base: j.base }, j);
  });

  it('saves a mapping file, replays it with user overrides, and --strict fails on unmatched', async () => {
    const saved = join(dir, 'map.json');
    const first = await runMap(ADAPTER, BASE, { savePath: saved });
    assert.equal(first.saved, saved);
    const file = await readMappingFile(saved);
    assert.equal(file.mappings.length, 8);
    // The user rejects q_proj of layer 0.
    const edited = {
      ...file,
      mappings: file.mappings.map((m) =>
        m.module === Q0 ? { module: Q0, source: 'user', target: null } : m,
      ),
    };
    const path = join(dir, 'edited.json');
    await writeFile(path, JSON.stringify(edited, null, 2));
    const j: MapJson = await runMap(ADAPTER, BASE, { mappingPath: path, strict: true });
    assert.equal(j.mappings.length, 7);
    assert.ok(!j.mappings.some((m) => m.module === Q0));
    assert.deepEqual(j.unmatchedAdapter, [Q0]);
    assert.deepEqual(j.warnings, []);
    assert.equal(mapExitCode(j, true), 1);
    assert.equal(mapExitCode(j, false), 0);
  });

  it('exports in peft naming with adapter_config.json, readable as PEFT again', async () => {
    const out = join(dir, 'peft', 'adapter_model.safetensors');
    await rm(join(dir, 'peft'), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'peft')));
    const j = await runExport(ADAPTER, BASE, { out, naming: 'peft' });
    assert.equal(j.out, out);
    assert.equal(j.tensors, 16);
    assert.ok(j.bytes > 0);
    assert.equal(j.adapterConfig, join(dir, 'peft', 'adapter_config.json'));
    const cfg = JSON.parse(await readFile(j.adapterConfig, 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.r, 8);
    assert.equal(cfg.lora_alpha, 16);
    const ckpt = await openPath(join(dir, 'peft'));
    try {
      const a = await analyzeLora(ckpt);
      assert.equal(a.family, 'peft');
      assert.ok(a.modules.every((m) => m.scale === 2));
    } finally {
      await ckpt.close();
    }
    assert.ok(exportText(j).startsWith(`wrote ${out}`));
  });

  it('exports gguf names, and never writes over a source', async () => {
    const out = join(dir, 'lora.gguf.safetensors');
    const j = await runExport(ADAPTER, BASE, { out, naming: 'gguf' });
    assert.equal(j.adapterConfig, null);
    const ckpt = await openPath(out);
    try {
      assert.ok(ckpt.tensors.some((t) => t.name === 'blk.1.attn_v.weight.lora_b'));
    } finally {
      await ckpt.close();
    }
    await assert.rejects(
      runExport(ADAPTER, BASE, { out: `${ADAPTER}/adapter_model.safetensors`, naming: 'base' }),
      { code: 'WouldOverwriteSource' },
    );
    await assert.rejects(runExport(ADAPTER, BASE, { out: BASE, naming: 'base' }), {
      code: 'WouldOverwriteSource',
    });
  });

  it('refuses a PEFT export beside the source adapter before writing anything', async () => {
    const out = `${ADAPTER}/adapter_model.peft.safetensors`;
    await assert.rejects(runExport(ADAPTER, BASE, { out, naming: 'peft' }), {
      code: 'WouldOverwriteSource',
    });
    assert.equal(existsSync(out), false, 'no half export is left behind');
  });
});
