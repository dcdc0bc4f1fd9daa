/**
 * Crash safety of `lora-lens extract`, as a user sees it: the CLI killed with SIGKILL at random moments
 * of a write leaves the destination old or new (never partial), and the next run leaves no temp file;
 * Ctrl-C (SIGINT) removes the temp at once; a disk that fills up mid-write (a 1 MiB tmpfs, where the
 * machine lets root mount one) is DiskFull with the old destination intact and no temp.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSafetensors, type TensorSpec } from '../helpers/safetensorsBuilder.js';

const REPO = join(__dirname, '../..');
const KILLS = 20;
const tmp = mkdtempSync(join(tmpdir(), 'lora-lens-crash-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A PEFT adapter of `modules` q_proj pairs, F16, `dim` wide: big enough that its write takes a while. */
function adapter(path: string, modules: number, dim: number): void {
  const tensors: TensorSpec[] = [];
  for (let i = 0; i < modules; i++) {
    const p = `base_model.model.model.layers.${i}.self_attn.q_proj`;
    tensors.push({
      name: `${p}.lora_A.weight`,
      dtype: 'F16',
      shape: [16, dim],
      data: randomBytes(32 * dim),
    });
    tensors.push({
      name: `${p}.lora_B.weight`,
      dtype: 'F16',
      shape: [dim, 16],
      data: randomBytes(32 * dim),
    });
  }
  // Optimizer-like extra state, so extract has something to drop.
  tensors.push({
    name: 'optimizer.state.0.exp_avg',
    dtype: 'F32',
    shape: [4],
    data: randomBytes(16),
  });
  writeFileSync(path, buildSafetensors(tensors, { format: 'pt' }));
}

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('.'));

/** The CLI in a child; `exited` is made at once, so an exit before anyone waits is not missed. */
function cli(args: readonly string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'src/cli/index.ts'), ...args],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, stderr })),
  );
  return { child, exited };
}

const run = (args: readonly string[]) => cli(args).exited;

describe('crash safety of the CLI writes', () => {
  const source = join(tmp, 'adapter.safetensors');
  const out = join(tmp, 'out');
  const dest = join(out, 'weights.safetensors');
  let sourceHash = '';
  let newHash = '';
  let fullMs = 0;
  before(async () => {
    adapter(source, 96, 8192); // ≈ 100 MB
    sourceHash = sha(source);
    mkdirSync(out);
    const t0 = performance.now();
    const r = await run(['extract', source, '--out', join(tmp, 'reference.safetensors')]);
    fullMs = performance.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    newHash = sha(join(tmp, 'reference.safetensors'));
  });

  it(`SIGKILL at ${KILLS} random moments: the destination is old or new, never partial; the next run leaves no temp`, async () => {
    const oldBytes = buildSafetensors([{ name: 'old', dtype: 'F32', shape: [1] }]);
    const oldHash = createHash('sha256').update(oldBytes).digest('hex');
    let sawNew = 0;
    let sawOld = 0;
    let debris = 0;
    for (let i = 0; i < KILLS; i++) {
      if (i % 2 === 0) writeFileSync(dest, oldBytes);
      const before = sha(dest);
      const { child, exited } = cli(['extract', source, '--out', dest]);
      const started = performance.now();
      let at: number;
      if (i % 2 === 0) {
        // Anywhere from process start to the end of a full run: startup, header, or the write itself.
        at = fullMs * Math.random();
        await new Promise((r) => setTimeout(r, at));
      } else {
        // Inside the write for sure, whatever the machine's load: once the temp exists, a short random wait.
        while (temps(out).length === 0 && performance.now() - started < fullMs * 4)
          await new Promise((r) => setTimeout(r, 2));
        await new Promise((r) => setTimeout(r, 40 * Math.random()));
        at = performance.now() - started;
      }
      child.kill('SIGKILL');
      await exited;
      const after = sha(dest);
      assert.ok(
        after === before || after === newHash,
        `kill ${i} at ${at.toFixed(0)} ms: partial destination`,
      );
      if (after === newHash) sawNew++;
      if (after === oldHash) sawOld++;
      debris += temps(out).length;
    }
    const last = await run(['extract', source, '--out', dest]);
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(temps(out), [], 'a temp file survived the next run');
    assert.equal(sha(dest), newHash);
    assert.equal(sha(source), sourceHash, 'the source changed');
    // Some kills must land inside the write, or this test proves nothing.
    assert.ok(debris > 0, `no kill landed during a write (full run ${fullMs.toFixed(0)} ms)`);
    if (debris > 0) assert.match(last.stderr, /removed .*left by an interrupted write/);
    assert.ok(sawOld + sawNew >= KILLS / 2);
  });

  it('SIGINT during the write removes the temp at once and keeps the old destination', async () => {
    const oldBytes = buildSafetensors([{ name: 'old', dtype: 'F32', shape: [1] }]);
    writeFileSync(dest, oldBytes);
    const before = sha(dest);
    for (let attempt = 0; attempt < 5; attempt++) {
      const { child, exited } = cli(['extract', source, '--out', dest]);
      // Wait until the temp exists, then interrupt.
      const started = performance.now();
      while (temps(out).length === 0 && performance.now() - started < fullMs * 2)
        await new Promise((r) => setTimeout(r, 5));
      const during = temps(out).length > 0;
      child.kill('SIGINT');
      const { code } = await exited;
      if (!during || code === 0) continue; // finished before the signal: try again
      assert.equal(code, 130);
      assert.deepEqual(temps(out), []);
      assert.equal(sha(dest), before);
      return;
    }
    assert.fail('never caught the write in progress');
  });

  it('a disk that fills up mid-write: DiskFull, the old destination intact, no temp', async (t) => {
    const mnt = join(tmp, 'small');
    mkdirSync(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    if (mounted.status !== 0)
      return t.skip('cannot mount a small tmpfs here (not root, or no privilege)');
    try {
      const small = join(tmp, 'small-adapter.safetensors');
      adapter(small, 8, 4096); // ≈ 2 MB: does not fit
      const target = join(mnt, 'weights.safetensors');
      writeFileSync(target, 'old');
      const r = await run(['extract', small, '--out', target]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /DiskFull: the disk is full while writing/);
      assert.equal(readFileSync(target, 'utf8'), 'old');
      assert.deepEqual(readdirSync(mnt), ['weights.safetensors']);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
