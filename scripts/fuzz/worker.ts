/**
 * One fuzzing worker: draws inputs for its target and runs them. A named CheckpointError (or a named
 * refusal of a message) is the expected outcome for a broken input; anything else is a crash,
 * reported with the input that caused it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Rng } from './mutate.js';
import { Crash, TARGET_IMPLS, type Seed, type TargetName } from './targets.js';

interface Job {
  readonly target: TargetName;
  readonly seeds: Seed[];
  readonly iterations: number;
  readonly seed: number;
  /** [0]: the iteration in progress, read by the main thread's hang watchdog. */
  readonly heartbeat: SharedArrayBuffer;
}

const { target, seeds, iterations, seed, heartbeat } = workerData as Job;
const beat = new Int32Array(heartbeat);
const rng = new Rng(seed || 1);
const seedBytes = seeds.map((s) => s.bytes);
const impl = TARGET_IMPLS[target];

async function run(): Promise<void> {
  const codes: Record<string, number> = {};
  let ok = 0;
  for (let i = 0; i < iterations; i++) {
    Atomics.store(beat, 0, i);
    const input = impl.make(rng, seeds, seedBytes);
    try {
      const r = await impl.run(input);
      ok += r.ok;
      for (const c of r.codes) codes[c] = (codes[c] ?? 0) + 1;
    } catch (e) {
      parentPort?.postMessage({
        kind: 'crash',
        where: e instanceof Crash ? e.where : 'the target itself',
        error:
          e instanceof Crash ? e.detail : e instanceof Error ? (e.stack ?? e.message) : String(e),
        input: impl.save(input),
        name: impl.label(input),
      });
    }
    if (i % 5000 === 0) parentPort?.postMessage({ kind: 'progress', done: i });
  }
  parentPort?.postMessage({ kind: 'done', done: iterations, ok, codes });
}

void run();
