/**
 * npm run fuzz [-- --inputs N --seed S --workers W]: a mutation fuzzer over the valid samples of every
 * format. Each mutated input goes to every reader. It passes when every input either opens or is refused
 * with a named CheckpointError: no other exception (crash), no input that takes more than 10 s (hang),
 * no worker over its 512 MB heap (unbounded allocation). Failing inputs are saved under
 * test-results/fuzz/ and can be replayed from the seed.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { mutate, Rng } from './mutate.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '20261128' },
    workers: { type: 'string', default: '2' },
  },
});
const INPUTS = Number(values.inputs);
const SEED = Number(values.seed);
const WORKERS = Math.max(1, Number(values.workers));
const HANG_MS = 10_000;
const SEED_DIRS = ['samples', 'test/fixtures'];
const EXTENSIONS = /\.(safetensors|bin|pt|pth|ckpt|gguf|onnx)$/i;

function collectSeeds(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (EXTENSIONS.test(f) && !/hostile|broken/.test(p) && statSync(p).size <= 1 << 20) {
        out.push({ name: f, bytes: new Uint8Array(readFileSync(p)) });
      }
    }
  };
  for (const d of SEED_DIRS) walk(d);
  return out;
}

/** Rebuilds the input a worker was on, from its seed and iteration: the run is deterministic. */
function replay(
  seeds: { name: string; bytes: Uint8Array }[],
  workerSeed: number,
  iteration: number,
): { name: string; bytes: Uint8Array } {
  const rng = new Rng(workerSeed || 1);
  const seedBytes = seeds.map((s) => s.bytes);
  let last: { name: string; bytes: Uint8Array } = { name: '', bytes: new Uint8Array(0) };
  for (let i = 0; i <= iteration; i++) {
    const base = rng.pick(seeds);
    last = { name: base.name, bytes: mutate(base.bytes, rng, seedBytes) };
  }
  return last;
}

interface Outcome {
  inputs: number;
  opened: number;
  codes: Record<string, number>;
  failures: string[];
}

function runWorker(
  index: number,
  seeds: { name: string; bytes: Uint8Array }[],
  iterations: number,
  outcome: Outcome,
): Promise<void> {
  const workerSeed = SEED + index * 7919;
  const heartbeat = new SharedArrayBuffer(4);
  const beat = new Int32Array(heartbeat);
  const worker = new Worker(join(dirname(process.argv[1] as string), 'worker.mjs'), {
    workerData: { seeds, iterations, seed: workerSeed, heartbeat },
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
  const save = (label: string, input: Uint8Array, name: string) => {
    mkdirSync('test-results/fuzz', { recursive: true });
    const file = join('test-results/fuzz', `${label}-${workerSeed}-${Date.now()}-${name}`);
    writeFileSync(file, input);
    return file;
  };
  return new Promise((resolve) => {
    let lastBeat = -1;
    let lastChange = Date.now();
    const watchdog = setInterval(() => {
      const now = Atomics.load(beat, 0);
      if (now !== lastBeat) {
        lastBeat = now;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > HANG_MS) {
        const input = replay(seeds, workerSeed, now);
        outcome.failures.push(
          `HANG (> ${HANG_MS / 1000} s) on iteration ${now} of worker seed ${workerSeed}: ${save('hang', input.bytes, input.name)}`,
        );
        clearInterval(watchdog);
        void worker.terminate();
      }
    }, 1000);
    worker.on(
      'message',
      (m: {
        kind: string;
        done?: number;
        ok?: number;
        codes?: Record<string, number>;
        error?: string;
        input?: Uint8Array;
        seed?: string;
        reader?: string;
      }) => {
        if (m.kind === 'crash' && m.input) {
          outcome.failures.push(
            `CRASH in ${m.reader} on a mutation of ${m.seed}: ${m.error?.split('\n')[0]} → ${save('crash', m.input, m.seed ?? 'input')}`,
          );
        } else if (m.kind === 'progress' && index === 0 && m.done && process.stdout.isTTY) {
          process.stdout.write(
            `\r  worker 0: ${m.done.toLocaleString('en-US')} / ${iterations.toLocaleString('en-US')}`,
          );
        } else if (m.kind === 'done') {
          outcome.inputs += m.done ?? 0;
          outcome.opened += m.ok ?? 0;
          for (const [k, v] of Object.entries(m.codes ?? {}))
            outcome.codes[k] = (outcome.codes[k] ?? 0) + v;
        }
      },
    );
    worker.on('error', (e) => {
      const at = Atomics.load(beat, 0);
      const input = replay(seeds, workerSeed, at);
      outcome.failures.push(
        `WORKER ERROR (${(e as NodeJS.ErrnoException).code ?? e.name}: ${e.message}) on iteration ${at}: ${save('oom', input.bytes, input.name)}`,
      );
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const seeds = collectSeeds();
  console.log(
    `fuzz: ${INPUTS.toLocaleString('en-US')} inputs from ${seeds.length} seed files, ${WORKERS} workers, seed ${SEED}`,
  );
  const started = Date.now();
  const outcome: Outcome = { inputs: 0, opened: 0, codes: {}, failures: [] };
  const per = Math.ceil(INPUTS / WORKERS);
  await Promise.all(
    Array.from({ length: WORKERS }, (_, i) =>
      runWorker(i, seeds, Math.min(per, INPUTS - i * per), outcome),
    ),
  );
  const secs = (Date.now() - started) / 1000;
  process.stdout.write('\n');
  console.log(
    `ran ${outcome.inputs.toLocaleString('en-US')} inputs in ${secs.toFixed(0)} s (${Math.round(outcome.inputs / secs).toLocaleString('en-US')}/s); reader runs that opened: ${outcome.opened.toLocaleString('en-US')}`,
  );
  console.log(
    'named refusals:',
    Object.entries(outcome.codes)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
      .join(', '),
  );
  if (outcome.failures.length) {
    console.log(`\n${outcome.failures.length} failure(s):`);
    for (const f of outcome.failures.slice(0, 50)) console.log(`  ${f}`);
    process.exitCode = 1;
  } else console.log('no crashes, no hangs, no out-of-memory');
}

void main();
