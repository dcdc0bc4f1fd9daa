/**
 * `lora-lens resize` and `lora-lens combine` as a user runs them: text and --json reports, exit codes,
 * and every named refusal.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { buildSafetensors, f32Bytes } from '../helpers/safetensorsBuilder.js';

const FIX = join(__dirname, '../fixtures/surgery');
const KOHYA = join(FIX, 'kohya-lora.safetensors');
const A1 = join(FIX, 'peft-combine/a1');
const A2 = join(FIX, 'peft-combine/a2');
const tmp = mkdtempSync(join(tmpdir(), 'lora-lens-surgery-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

/** Runs with --json and returns the exit code and the one JSON object printed. */
async function runJson(args: string[]): Promise<{ code: number; body: Record<string, unknown> }> {
  const r = await run([...args, '--json']);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one JSON line, got: ${r.out}`);
  return { code: r.code, body: JSON.parse(lines[0] as string) as Record<string, unknown> };
}

async function errorCode(args: string[]): Promise<string> {
  const { code, body } = await runJson(args);
  assert.equal(code, 2);
  return (body['error'] as { code: string }).code;
}

describe('lora-lens resize', () => {
  it('prints a per-module table and totals', async () => {
    const r = await run(['resize', KOHYA, '--out', join(tmp, 'r.safetensors'), '--energy', '0.9']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /resized 5 modules/);
    assert.match(r.out, /lora_unet_down_blocks_0_resnets_0_conv1\s+8 → 2/);
    assert.match(r.out, /total: rank 52 → \d+/);
    assert.match(r.out, /alpha = scale·new rank/);
  });

  it('--json: one object with modules, totals and the dtype error', async () => {
    const { code, body } = await runJson([
      'resize',
      KOHYA,
      '-o',
      join(tmp, 'j.safetensors'),
      '--ratio',
      '8',
      '--kohya',
      '--dtype',
      'f16',
    ]);
    assert.equal(code, 0);
    assert.equal(body['dtype'], 'F16');
    const modules = body['modules'] as { rankAfter: number; castError: number }[];
    assert.equal(modules.length, 5);
    assert.ok(modules.every((m) => m.castError > 0 && m.castError < 1e-2));
    const totals = body['totals'] as { bytesSaved: number };
    assert.ok(totals.bytesSaved > 0);
  });

  it('reports the F8_E4M3 error of the stored factors', async () => {
    const { code, body } = await runJson([
      'resize',
      A2,
      '-o',
      join(tmp, 'f8'),
      '--rank',
      '6',
      '--dtype',
      'f8_e4m3',
    ]);
    assert.equal(code, 0);
    const worst = (body['totals'] as { worstCastError: number }).worstCastError;
    assert.ok(worst > 1e-3 && worst < 0.1, String(worst));
  });

  const bad: [string, string[], string][] = [
    ['rank 0', ['--rank', '0'], 'InvalidRank'],
    ['rank 2.5', ['--rank', '2.5'], 'InvalidRank'],
    ['energy 0', ['--energy', '0'], 'InvalidEnergy'],
    ['energy 1.5', ['--energy', '1.5'], 'InvalidEnergy'],
    ['ratio 0.5', ['--ratio', '0.5'], 'InvalidRatio'],
    ['two rules', ['--rank', '2', '--energy', '0.5'], 'UsageError'],
    ['no rule', [], 'UsageError'],
    ['a bad dtype', ['--rank', '2', '--dtype', 'f64'], 'UsageError'],
    ['a non-number', ['--rank', 'four'], 'UsageError'],
  ];
  for (const [what, args, code] of bad)
    it(`refuses ${what} as ${code}`, async () => {
      assert.equal(
        await errorCode(['resize', KOHYA, '--out', join(tmp, 'bad.safetensors'), ...args]),
        code,
      );
    });

  it('refuses an out path equal to the input, and leaves the input alone', async () => {
    const copy = join(tmp, 'src.safetensors');
    copyFileSync(KOHYA, copy);
    const before = readFileSync(copy);
    assert.equal(
      await errorCode(['resize', copy, '--out', copy, '--rank', '2']),
      'WouldOverwriteSource',
    );
    assert.equal(
      await errorCode(['resize', A1, '--out', A1, '--rank', '2']),
      'WouldOverwriteSource',
    );
    assert.deepEqual(readFileSync(copy), before);
  });

  it('refuses a file with no LoRA modules and methods that are not low rank', async () => {
    const base = join(__dirname, '../fixtures/methods/base');
    assert.equal(
      await errorCode(['resize', base, '--out', join(tmp, 'b'), '--rank', '2']),
      'NoLoraModules',
    );
    assert.equal(
      await errorCode([
        'resize',
        join(__dirname, '../fixtures/methods/oft'),
        '--out',
        join(tmp, 'o'),
        '--rank',
        '2',
      ]),
      'NotLowRank',
    );
  });
});

describe('lora-lens combine', () => {
  it('cat (default) and svd, text report', async () => {
    const cat = await run(['combine', A1, A2, '--weights', '0.7,-0.4', '--out', join(tmp, 'cat')]);
    assert.equal(cat.code, 0, cat.err);
    assert.match(cat.out, /combined 2 adapters \(cat, weights 0\.7, -0\.4\)/);
    assert.match(cat.out, /model\.layers\.0\.self_attn\.q_proj\s+#1:4 #2:6\s+10\s+yes/);
    const svd = await run([
      'combine',
      A1,
      A2,
      '-w',
      '0.7,-0.4',
      '--method',
      'svd',
      '--rank',
      '3',
      '--out',
      join(tmp, 'svd'),
    ]);
    assert.equal(svd.code, 0, svd.err);
    assert.match(svd.out, /q_proj\s+#1:4 #2:6\s+3\s+\d\.\de-\d+ \(retained/);
  });

  it('refuses mismatched weights, bases and shapes by name', async () => {
    const out = join(tmp, 'x');
    assert.equal(
      await errorCode(['combine', A1, A2, '--weights', '1', '--out', out]),
      'InvalidWeights',
    );
    assert.equal(
      await errorCode(['combine', A1, A2, '--weights', '1,x', '--out', out]),
      'InvalidWeights',
    );
    assert.equal(await errorCode(['combine', A1, '--weights', '1', '--out', out]), 'UsageError');
    assert.equal(
      await errorCode(['combine', A1, A2, '--weights', '1,1', '--rank', '2', '--out', out]),
      'UsageError',
    );
    assert.equal(
      await errorCode([
        'combine',
        A1,
        A2,
        '--weights',
        '1,1',
        '--method',
        'svd',
        '--rank',
        '0',
        '--out',
        out,
      ]),
      'InvalidRank',
    );
    assert.equal(
      await errorCode(['combine', A1, A2, '--weights', '1,1', '--out', A1]),
      'WouldOverwriteSource',
    );

    const other = join(tmp, 'other-base');
    cpSync(A2, other, { recursive: true });
    const cfgPath = join(other, 'adapter_config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: 'another-model' }));
    assert.equal(
      await errorCode(['combine', A1, other, '--weights', '1,1', '--out', out]),
      'BaseMismatch',
    );

    // The same q_proj, 16 wide instead of 32.
    const wrong = join(tmp, 'wrong-shape');
    cpSync(A2, wrong, { recursive: true });
    const p = 'base_model.model.model.layers.0.self_attn.q_proj';
    writeFileSync(
      join(wrong, 'adapter_model.safetensors'),
      buildSafetensors([
        {
          name: `${p}.lora_A.weight`,
          dtype: 'F32',
          shape: [2, 16],
          data: f32Bytes(Array.from({ length: 32 }, (_, i) => i / 32)),
        },
        {
          name: `${p}.lora_B.weight`,
          dtype: 'F32',
          shape: [16, 2],
          data: f32Bytes(Array.from({ length: 32 }, (_, i) => 1 - i / 32)),
        },
      ]),
    );
    assert.equal(
      await errorCode(['combine', A1, wrong, '--weights', '1,1', '--out', out]),
      'ShapeMismatch',
    );
  });

  it('refuses DoRA modules (magnitudes do not add)', async () => {
    const dora = join(__dirname, '../fixtures/methods/dora');
    assert.equal(
      await errorCode(['combine', dora, dora, '--weights', '1,1', '--out', join(tmp, 'd')]),
      'DoraNotCombinable',
    );
  });
});
