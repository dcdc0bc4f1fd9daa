/**
 * The editor's Resize… / Combine With… without VS Code: the answers parsed, the staging folder moved
 * into place only on commit, nothing left on discard, and never over a source file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CheckpointError } from '../../src/core/formats/errors.js';
import type { RemapResult } from '../../src/core/mapping/export/remap.js';
import { exportRows, parseRule, parseWeights, Staging } from '../../src/extension/surgeryLogic.js';

const root = mkdtempSync(join(tmpdir(), 'lora-lens-staging-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('Export For Architecture report', () => {
  it('lists each conversion once, the plain modules, and every module left out with its reason', () => {
    const q = 'base_model.model.model.layers.0.self_attn.q_proj';
    const k = 'base_model.model.model.layers.0.self_attn.k_proj';
    const fused = 'base_model.model.model.layers.0.self_attn.qkv_proj';
    const o = 'base_model.model.model.layers.0.self_attn.o_proj';
    const r: RemapResult = {
      out: '/x/adapter_model.safetensors',
      naming: 'peft',
      tensors: 4,
      bytes: 100,
      modules: [
        {
          module: fused,
          target: 'model.layers.0.self_attn.qkv_proj.weight',
          keys: [],
          rewritten: true,
        },
        { module: o, target: 'model.layers.0.self_attn.o_proj.weight', keys: [], rewritten: false },
      ],
      skipped: [{ module: 'lm_head', reason: 'no parameter of shape [32, 8]' }],
      warnings: [],
      conversions: [
        {
          kind: 'fuse',
          fused: 'model.layers.0.self_attn.qkv_proj.weight',
          layout: 'q 8 + k 8 + v 8, contiguous',
          members: [
            {
              part: 'q',
              module: q,
              target: 'model.layers.0.self_attn.qkv_proj.weight',
              start: 0,
              end: 8,
              rank: 4,
            },
            {
              part: 'k',
              module: k,
              target: 'model.layers.0.self_attn.qkv_proj.weight',
              start: 8,
              end: 16,
              rank: 4,
            },
          ],
          rank: 8,
          scale: 2,
          rescaled: [],
        },
      ],
    };
    const { title, rows } = exportRows(r, 'phi3');
    assert.equal(title, 'Export for phi3 (peft naming): 2 modules, 1 fused, 0 split, 1 left out');
    assert.deepEqual(
      rows.map((x) => x.description),
      [
        'fused from q r4 + k r4 · rank 8 · exact',
        '→ model.layers.0.self_attn.o_proj.weight',
        'left out: no parameter of shape [32, 8]',
      ],
    );
    assert.equal(rows[0]?.detail, `${q}, ${k}`);
  });
});

describe('surgery answers', () => {
  it('reads a rank, an energy (0.9 or 90 %) and a ratio, and says what is wrong', () => {
    assert.deepEqual(parseRule('rank', '16'), { kind: 'rank', rank: 16 });
    assert.deepEqual(parseRule('energy', '0.9'), { kind: 'energy', energy: 0.9 });
    assert.deepEqual(parseRule('energy', '90'), { kind: 'energy', energy: 0.9 });
    assert.deepEqual(parseRule('ratio', '8'), { kind: 'ratio', ratio: 8 });
    for (const [kind, text] of [
      ['rank', '0'],
      ['rank', '2.5'],
      ['energy', '0'],
      ['energy', '150'],
      ['ratio', '0.5'],
      ['rank', 'abc'],
      ['rank', ''],
    ] as const)
      assert.equal(typeof parseRule(kind, text), 'string', `${kind} ${text}`);
  });

  it('reads one weight per adapter', () => {
    assert.deepEqual(parseWeights('1, 0.5 -0.25', 3), [1, 0.5, -0.25]);
    assert.match(parseWeights('1, 2', 3) as string, /Give 3 weights/);
    assert.match(parseWeights('1, x', 2) as string, /numbers/);
  });
});

describe('staging', () => {
  it('commit moves every staged file beside the destination; nothing else is left', async () => {
    const dir = mkdtempSync(join(root, 'commit-'));
    const s = await Staging.create(join(dir, 'out.safetensors'));
    writeFileSync(s.output, 'weights');
    writeFileSync(join(s.folder, 'adapter_config.json'), '{}');
    const moved = await s.commit([]);
    assert.deepEqual(moved.sort(), [
      join(dir, 'adapter_config.json'),
      join(dir, 'out.safetensors'),
    ]);
    assert.deepEqual(readdirSync(dir).sort(), ['adapter_config.json', 'out.safetensors']);
  });

  it('a new destination folder is made, and removed again when nothing is written', async () => {
    const dir = mkdtempSync(join(root, 'newdir-'));
    const s = await Staging.create(join(dir, 'adapter-r4', 'adapter_model.safetensors'));
    writeFileSync(s.output, 'weights');
    await s.discard();
    assert.deepEqual(readdirSync(dir), []);
    const t = await Staging.create(join(dir, 'adapter-r4', 'adapter_model.safetensors'));
    writeFileSync(t.output, 'weights');
    await t.commit([]);
    assert.deepEqual(readdirSync(join(dir, 'adapter-r4')), ['adapter_model.safetensors']);
  });

  it('discard leaves nothing, and the destination as it was', async () => {
    const dir = mkdtempSync(join(root, 'discard-'));
    writeFileSync(join(dir, 'out.safetensors'), 'old');
    const s = await Staging.create(join(dir, 'out.safetensors'));
    writeFileSync(s.output, 'new');
    await s.discard();
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
    assert.equal(readFileSync(join(dir, 'out.safetensors'), 'utf8'), 'old');
  });

  it("refuses to move an adapter_config.json over the source's, before anything moves", async () => {
    const dir = mkdtempSync(join(root, 'protect-'));
    const source = join(dir, 'adapter_config.json');
    writeFileSync(source, 'the source config');
    const s = await Staging.create(join(dir, 'adapter_model-r4.safetensors'));
    writeFileSync(s.output, 'weights');
    writeFileSync(join(s.folder, 'adapter_config.json'), '{}');
    await assert.rejects(
      s.commit([source]),
      (e: unknown) => e instanceof CheckpointError && e.code === 'WouldOverwriteSource',
    );
    await s.discard();
    assert.equal(readFileSync(source, 'utf8'), 'the source config');
    assert.deepEqual(readdirSync(dir), ['adapter_config.json']);
  });
});
