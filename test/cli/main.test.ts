import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

const BASE = 'samples/tiny-llama/model.safetensors';
const ADAPTER = 'samples/tiny-llama-lora/adapter_model.safetensors';

describe('lora-lens inspect', () => {
  it('prints the JSON contract for a real transformers checkpoint', async () => {
    const { code, out } = await run('inspect', BASE, '--json');
    assert.equal(code, 0);
    const j = JSON.parse(out);
    assert.equal(j.format, 'safetensors');
    assert.equal(j.tensorCount, 21);
    assert.equal(j.parameterCount, 106_816);
    assert.equal(j.fileSize, 429_408);
    assert.deepEqual(j.dtypes, { F32: 21 });
    assert.deepEqual(j.metadata, { format: 'pt' });
    assert.equal(j.tensors.length, 21);
    // offset is absolute: the bytes there are the tensor's bytes.
    const file = readFileSync(BASE);
    const norm = j.tensors.find((t: { name: string }) => t.name === 'model.norm.weight');
    assert.deepEqual(norm.shape, [64]);
    assert.equal(norm.bytes, 256);
    assert.equal(file.readFloatLE(norm.offset), 1); // RMSNorm weights start at 1.0
    for (const t of j.tensors) assert.ok(t.offset + t.bytes <= file.length);
  });

  it('reads a PEFT adapter written by the real library', async () => {
    const j = JSON.parse((await run('inspect', ADAPTER, '--json')).out);
    assert.equal(j.tensorCount, 16);
    assert.equal(j.parameterCount, 7168);
    const a = j.tensors.find(
      (t: { name: string }) =>
        t.name === 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
    );
    assert.deepEqual(a.shape, [8, 64]);
  });

  it('adds the LoRA analysis in the contract shape', async () => {
    const j = JSON.parse((await run('inspect', ADAPTER, '--json')).out);
    assert.equal(j.lora.family, 'peft');
    assert.ok(j.lora.evidence.length > 0);
    assert.equal(j.lora.modules.length, 8);
    const q = j.lora.modules.find(
      (m: { target: string }) => m.target === 'model.layers.0.self_attn.q_proj',
    );
    assert.deepEqual(
      { kind: q.kind, rank: q.rank, alpha: q.alpha, scale: q.scale, tensors: q.tensors.length },
      { kind: 'linear', rank: 8, alpha: 16, scale: 2, tensors: 2 },
    );
    assert.deepEqual(j.lora.nonLora, []);
    assert.ok(Array.isArray(j.lora.warnings));
  });

  it('adds per-module statistics with --stats', async () => {
    const j = JSON.parse((await run('inspect', ADAPTER, '--json', '--stats')).out);
    assert.equal(j.stats.length, 8);
    for (const s of j.stats) {
      assert.ok(s.norm > 0, s.module);
      assert.equal(s.zeroB, false);
      assert.equal(s.nanCount, 0);
    }
    const text = await run('inspect', ADAPTER, '--stats', '--limit', '0');
    assert.match(text.out, /statistics \(8 modules/);
  });

  it('shows kohya metadata', async () => {
    const j = JSON.parse(
      (await run('inspect', 'samples/kohya-style-lora.safetensors', '--json')).out,
    );
    assert.equal(j.metadata.ss_network_dim, '4');
    assert.equal(j.dtypes.F16, 12);
  });

  it('prints a readable summary in text mode, with a tensor limit', async () => {
    const { code, out } = await run('inspect', BASE, '--limit', '3');
    assert.equal(code, 0);
    assert.match(out, /tensors\s+21/);
    assert.match(out, /parameters\s+106,816 \(107K\)/);
    assert.match(out, /… 18 more/);
  });

  it('refuses a malformed file with exit 2 and the rule name', async () => {
    const { code, out } = await run('inspect', 'samples/broken/truncated.safetensors', '--json');
    assert.equal(code, 2);
    const j = JSON.parse(out);
    assert.equal(j.error.code, 'MetadataIncompleteBuffer');
    assert.match(j.error.message, /not fully covered/);
    const text = await run('inspect', 'samples/broken/duplicate-key.safetensors');
    assert.equal(text.code, 2);
    assert.match(text.err, /^lora-lens: DuplicateKey: /);
  });

  it('names usage errors and missing files', async () => {
    assert.equal(JSON.parse((await run('inspect', '--json')).out).error.code, 'UsageError');
    assert.equal(JSON.parse((await run('frobnicate', '--json')).out).error.code, 'UsageError');
    assert.equal(
      JSON.parse((await run('inspect', 'nope.safetensors', '--json')).out).error.code,
      'FileNotFound',
    );
    assert.equal(
      JSON.parse((await run('inspect', BASE, '--json', '--bogus')).out).error.code,
      'UsageError',
    );
    assert.equal((await run('--help')).code, 0);
  });

  it('runs as a process: one JSON object on stdout, exit codes kept', () => {
    const ok = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'inspect', ADAPTER, '--json'],
      { encoding: 'utf8' },
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).tensorCount, 16);
    const bad = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/index.ts',
        'inspect',
        'samples/broken/unknown-dtype.safetensors',
        '--json',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(bad.status, 2);
    assert.equal(JSON.parse(bad.stdout).error.code, 'UnknownDtype');
  });
});
