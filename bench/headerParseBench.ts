/**
 * Opening a big safetensors header: the byte scanner (fast path) against JSON.parse of the header text
 * (slow path), each in a fresh child process so its peak RSS is its own.
 *
 *   npx tsx --expose-gc bench/headerParseBench.ts [100k|1M]
 *
 * Fixtures: sparse files in .bench-tmp/header-parse/ with hostMemoryBench's names (100,000 Llama-like
 * F16 tensors, 10.7 MB header; 1,000,000 scalar I8 tensors, 85 MB header). Per run: the first open
 * after a warm-up (time, peak RSS above the RSS before it, heap+external retained with the checkpoint
 * held), then the best of 3 more opens.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFixture } from './llamaHeaderFixture.js';
import { FileByteSource } from '../src/core/formats/byteSource.js';
import { openSafetensorsWith } from '../src/core/formats/safetensors.js';

const DIR = '.bench-tmp/header-parse';
const MB = 1024 * 1024;

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) g();
};

interface Result {
  tensors: number;
  firstMs: number;
  bestMs: number;
  peakMb: number;
  retainedMb: number;
}

async function openOnce(path: string, fastPath: boolean) {
  return openSafetensorsWith(await FileByteSource.open(path), { fastPath });
}

async function child(path: string, fastPath: boolean): Promise<Result> {
  const warm = join(DIR, 'warm.safetensors');
  await writeFixture(warm, 2000, false);
  for (let i = 0; i < 5; i++) await (await openOnce(warm, fastPath)).close();
  gc();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const ckpt = await openOnce(path, fastPath);
  const firstMs = performance.now() - t0;
  const peakMb = process.resourceUsage().maxRSS / 1024 - before.rss / MB;
  gc();
  const after = process.memoryUsage();
  const retainedMb = (after.heapUsed + after.external - before.heapUsed - before.external) / MB;
  const tensors = ckpt.tensors.length;
  await ckpt.close();
  let bestMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const c = await openOnce(path, fastPath);
    bestMs = Math.min(bestMs, performance.now() - t);
    await c.close();
  }
  return { tensors, firstMs, bestMs, peakMb, retainedMb };
}

const SIZES: Record<string, { file: string; count: number; tiny: boolean }> = {
  '100k': { file: 'llama-100k.safetensors', count: 100_000, tiny: false },
  '1M': { file: 'llama-1m.safetensors', count: 1_000_000, tiny: true },
};

async function main(): Promise<void> {
  const [, , mode, size, path] = process.argv;
  if (mode === '--child' && size && path) {
    const r = await child(path, size === 'fast');
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  mkdirSync(DIR, { recursive: true });
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const [name, s] of Object.entries(SIZES)) {
    if (only.length && !only.includes(name)) continue;
    const file = join(DIR, s.file);
    await writeFixture(file, s.count, s.tiny);
    const rows: Record<string, Result> = {};
    for (const how of ['slow', 'fast']) {
      const out = spawnSync(
        process.execPath,
        [...process.execArgv, process.argv[1] as string, '--child', how, file],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) throw new Error(`${name} ${how}: child failed (${out.status})\n${out.stdout}`);
      rows[how] = JSON.parse(line.slice(7)) as Result;
    }
    const f = rows.fast as Result;
    const sl = rows.slow as Result;
    console.log(`${name}: ${f.tensors.toLocaleString('en-US')} tensors`);
    for (const [how, r] of [
      ['slow (JSON.parse)', sl],
      ['fast (scanner)   ', f],
    ] as const) {
      console.log(
        `  ${how}  first open ${r.firstMs.toFixed(0).padStart(5)} ms, best of 3 ${r.bestMs.toFixed(0).padStart(5)} ms, peak RSS +${r.peakMb.toFixed(1).padStart(6)} MB, retained heap+external ${r.retainedMb.toFixed(1).padStart(6)} MB`,
      );
    }
    console.log(
      `  fast/slow: time ${(f.bestMs / sl.bestMs).toFixed(2)}×, peak ${(f.peakMb / sl.peakMb).toFixed(2)}×`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
