/**
 * One fuzzing worker: mutates seeds and feeds them to every reader that claims them. A named
 * CheckpointError is the expected outcome for a broken input; anything else is a crash, reported with
 * the input that caused it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CheckpointError, MemoryByteSource, READERS } from '../../src/core/formats/index.js';
import { mutate, Rng } from './mutate.js';

interface Job {
  readonly seeds: { name: string; bytes: Uint8Array }[];
  readonly iterations: number;
  readonly seed: number;
  /** [0]: the iteration in progress, read by the main thread's hang watchdog. */
  readonly heartbeat: SharedArrayBuffer;
}

const { seeds, iterations, seed, heartbeat } = workerData as Job;
const beat = new Int32Array(heartbeat);
const rng = new Rng(seed || 1);
const seedBytes = seeds.map((s) => s.bytes);

async function run(): Promise<void> {
  const codes: Record<string, number> = {};
  let ok = 0;
  for (let i = 0; i < iterations; i++) {
    Atomics.store(beat, 0, i);
    const base = rng.pick(seeds);
    const input = mutate(base.bytes, rng, seedBytes);
    // Every reader sees every input, under the seed's own name, so sniffing by extension cannot hide bugs.
    for (const reader of READERS) {
      try {
        const ckpt = await reader.open(new MemoryByteSource(input, base.name));
        // Touch what the editor touches: names, totals, and one tensor read.
        void ckpt.tensors.length;
        const t = ckpt.tensors[0];
        if (t && t.byteLength < 1 << 20)
          await ckpt.readTensorBytes(t).catch((e: unknown) => check(e, codes));
        await ckpt.close();
        ok++;
      } catch (e) {
        check(e, codes, input, base.name, reader.format);
      }
    }
    if (i % 5000 === 0) parentPort?.postMessage({ kind: 'progress', done: i });
  }
  parentPort?.postMessage({ kind: 'done', done: iterations, ok, codes });
}

function check(
  e: unknown,
  codes: Record<string, number>,
  input?: Uint8Array,
  seedName?: string,
  reader?: string,
): void {
  if (e instanceof CheckpointError && e.code !== 'InternalError') {
    codes[e.code] = (codes[e.code] ?? 0) + 1;
    return;
  }
  parentPort?.postMessage({
    kind: 'crash',
    seed: seedName,
    reader,
    error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e),
    input,
  });
}

void run();
