/**
 * `lora-lens diff` as a user runs it: the acceptance cases of issue 14 on real PEFT checkpoints and
 * our own kohya export of one (test/fixtures/compare), exit codes, one JSON object that validates
 * against schemas/diff.schema.json, and named refusals.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import { main } from '../../src/cli/main.js';
import { diffCli, diffUsage } from '../../src/cli/diffCommand.js';
import type { DiffReport } from '../../src/core/compare/index.js';

const FIX = join(__dirname, '../fixtures/compare');
const CK1 = join(FIX, 'checkpoint-1');
const CK2 = join(FIX, 'checkpoint-2');
const R8 = join(FIX, 'checkpoint-r8');
const KOHYA = join(FIX, 'kohya-from-checkpoint-2.safetensors');
const BASE_A = join(FIX, 'base-a.safetensors');
const BASE_B = join(FIX, 'base-b.safetensors');

const schema = JSON.parse(
  readFileSync(join(__dirname, '../../schemas/diff.schema.json'), 'utf8'),
) as object;
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
  schema,
);

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

/** Runs `diff … --json`: the exit code and the one JSON object printed, checked against the schema. */
async function diffJson(args: string[]): Promise<{ code: number; r: DiffReport }> {
  const res = await run(['diff', ...args, '--json']);
  const lines = res.out.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one JSON line, got: ${res.out}`);
  const body = JSON.parse(lines[0] as string) as DiffReport;
  assert.ok(validate(body), JSON.stringify(validate.errors));
  return { code: res.code, r: body };
}

async function errorOf(args: string[]): Promise<{ code: number; error: string }> {
  const res = await run(['diff', ...args, '--json']);
  const body = JSON.parse(res.out.trim()) as { error: { code: string } };
  return { code: res.code, error: body.error.code };
}

describe('lora-lens diff: acceptance', () => {
  it('a PEFT adapter against its kohya export: 0 keys lost, every module renamed, no setting changed', async () => {
    const { code, r } = await diffJson([CK2, KOHYA]);
    assert.equal(code, 1, 'renames are differences unless --ignore-renames');
    assert.equal(r.keys.onlyA.length, 0, 'no key lost');
    const ad = r.adapters;
    assert.ok(ad);
    assert.equal(ad.modulesA, 8);
    assert.equal(ad.pairs.length, 8);
    assert.equal(ad.renamed, 8, 'every module renamed');
    assert.deepEqual([ad.onlyA, ad.onlyB, ad.changes], [[], [], []]);
    assert.ok(ad.pairs.every((p) => p.a !== p.b && p.via === 'flattened-name'));
    // lora_A/lora_B ↔ lora_down/lora_up, same shape and dtype.
    assert.equal(r.keys.renamed.length, 16);
    assert.equal(r.keys.changed.length, 0);
    // kohya's .alpha scalars are B's only additions, each tied to its module.
    assert.equal(r.keys.onlyB.length, 8);
    assert.ok(r.keys.onlyB.every((k) => k.alphaOf !== undefined && k.name.endsWith('.alpha')));
    assert.deepEqual(r.differences, ['keys-only-in-b', 'renamed']);
  });

  it('PEFT against its kohya export with --norms: every paired ΔW is the same, exactly', async () => {
    const { r } = await diffJson([CK2, KOHYA, '--norms', '--ignore-renames']);
    assert.equal(r.norms?.modules.length, 8);
    assert.ok(r.norms?.modules.every((m) => m.diff === 0 && (m.normA ?? 0) > 0));
    assert.equal(r.differ, false);
  });

  it('--ignore-renames: the same adapter in two namings does not differ (exit 0)', async () => {
    const { code, r } = await diffJson([CK2, KOHYA, '--ignore-renames']);
    assert.equal(code, 0);
    assert.equal(r.differ, false);
    assert.equal(r.keys.renamed.length, 16, 'the renames are still reported');
  });

  it('two checkpoints of one training run: only norms changed', async () => {
    const { code, r } = await diffJson([CK1, CK2, '--norms']);
    assert.equal(code, 1);
    assert.deepEqual(r.differences, ['norms']);
    assert.equal(r.keys.same, 16);
    assert.deepEqual(
      [r.keys.onlyA, r.keys.onlyB, r.keys.changed, r.keys.renamed],
      [[], [], [], []],
    );
    assert.deepEqual(r.adapters?.changes, []);
    const n = r.norms;
    assert.ok(n);
    assert.equal(n.modules.length, 8);
    assert.equal(n.changed, 8);
    const expected = (
      JSON.parse(readFileSync(join(FIX, 'expected-norms.json'), 'utf8')) as Record<
        string,
        Record<string, { normA: number; normB: number; diff: number }>
      >
    )['checkpoint-1:checkpoint-2'] as Record<
      string,
      { normA: number; normB: number; diff: number }
    >;
    for (const m of n.modules) {
      const e = expected[m.a];
      assert.ok(e, m.a);
      assert.equal(m.method, 'factor-difference');
      for (const [got, want] of [
        [m.normA, e.normA],
        [m.normB, e.normB],
        [m.diff, e.diff],
      ] as const)
        assert.ok(Math.abs((got ?? NaN) - want) <= 1e-9 * want, `${m.a}: ${got} vs torch ${want}`);
      assert.ok(Math.abs((m.relative ?? NaN) - e.diff / e.normA) <= 1e-9);
    }
  });

  it('without --norms the same two checkpoints are the same (header-only)', async () => {
    const { code, r } = await diffJson([CK1, CK2]);
    assert.equal(code, 0);
    assert.equal(r.norms, null);
  });

  it('a file against itself: exit 0, norms exactly 0', async () => {
    const { code, r } = await diffJson([CK1, CK1, '--norms', '--tolerance', '0']);
    assert.equal(code, 0);
    assert.ok(r.norms?.modules.every((m) => m.diff === 0 && !m.changed));
    const text = await run(['diff', BASE_A, BASE_A]);
    assert.equal(text.code, 0);
    assert.match(text.out, /^same$/m);
  });

  it('base against base: a dtype change and a removed key', async () => {
    const { code, r } = await diffJson([BASE_A, BASE_B]);
    assert.equal(code, 1);
    assert.deepEqual(r.differences, ['keys-only-in-a', 'shape-or-dtype']);
    assert.deepEqual(
      r.keys.onlyA.map((k) => k.name),
      ['model.layers.1.post_attention_layernorm.weight'],
    );
    assert.deepEqual(r.keys.changed, [
      {
        a: 'model.layers.1.mlp.down_proj.weight',
        b: 'model.layers.1.mlp.down_proj.weight',
        dtypeA: 'F16',
        dtypeB: 'F32',
        shapeA: [64, 96],
        shapeB: [64, 96],
        changed: ['dtype'],
      },
    ]);
    assert.equal(r.adapters, null);
    assert.equal(r.keys.same, 18);
  });

  it('another run with r 8: rank and scale changes per module, the norms through the Gram identity', async () => {
    const { code, r } = await diffJson([CK2, R8, '--norms']);
    assert.equal(code, 1);
    assert.deepEqual(r.differences, ['shape-or-dtype', 'module-settings', 'norms']);
    const c = r.adapters?.changes[0];
    assert.deepEqual(c?.changes, [
      { field: 'rank', a: 4, b: 8 },
      { field: 'scale', a: 2, b: 1 },
    ]);
    const expected = (
      JSON.parse(readFileSync(join(FIX, 'expected-norms.json'), 'utf8')) as Record<
        string,
        Record<string, { diff: number }>
      >
    )['checkpoint-2:checkpoint-r8'] as Record<string, { diff: number }>;
    for (const m of r.norms?.modules ?? []) {
      assert.equal(m.method, 'gram-identity');
      const want = (expected[m.a] as { diff: number }).diff;
      assert.ok(Math.abs((m.diff ?? NaN) - want) <= 1e-9 * want, `${m.a}: ${m.diff} vs ${want}`);
    }
  });
});

describe('lora-lens diff: output and refusals', () => {
  it('text report: sections, the verdict and the exit code', async () => {
    const res = await run(['diff', CK2, KOHYA]);
    assert.equal(res.code, 1);
    assert.match(res.out, /^differ: keys-only-in-b, renamed$/m);
    assert.match(
      res.out,
      /^keys: 16 same, 0 only in A, 8 only in B, 0 shape\/dtype changed, 16 renamed$/m,
    );
    assert.match(res.out, /^renamed \(16\)$/m);
    assert.match(res.out, /8 paired \(flattened-name 8\), 8 renamed/);
  });

  it('--limit cuts the lists, not the counts', async () => {
    const { r } = await diffJson([CK2, KOHYA, '--limit', '2']);
    assert.equal(r.truncated, true);
    assert.equal(r.keys.renamed.length, 2);
    assert.equal(r.counts.renamed, 16);
    assert.equal(r.counts.onlyB, 8);
    const text = await run(['diff', CK2, KOHYA, '--limit', '1']);
    assert.match(text.out, /… 15 more/);
  });

  it('--norms on a base: not computed, said so', async () => {
    const { r } = await diffJson([BASE_A, CK1, '--norms']);
    assert.match(r.norms?.note ?? '', /no LoRA modules/);
  });

  it('usage errors and unreadable inputs exit 2 with a named code', async () => {
    assert.deepEqual(await errorOf([CK1]), { code: 2, error: 'UsageError' });
    assert.deepEqual(await errorOf([CK1, CK2, '--tolerance', '1e-3']), {
      code: 2,
      error: 'UsageError',
    });
    assert.deepEqual(await errorOf([CK1, CK2, '--norms', '--tolerance', '-1']), {
      code: 2,
      error: 'UsageError',
    });
    assert.deepEqual(await errorOf([CK1, CK2, '--limit', 'x']), { code: 2, error: 'UsageError' });
    assert.deepEqual(await errorOf([CK1, CK2, '--bogus']), { code: 2, error: 'UsageError' });
    const missing = await errorOf([CK1, join(FIX, 'no-such-file.safetensors')]);
    assert.equal(missing.code, 2);
    assert.notEqual(missing.error, 'UsageError');
  });

  it('diffUsage says what "differ" means', () => {
    assert.match(diffUsage, /differ \(exit 1\)/);
    assert.match(diffUsage, /--ignore-renames/);
    assert.equal(typeof diffCli, 'function');
  });
});
