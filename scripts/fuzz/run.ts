/**
 * npm run fuzz [-- --target formats|quant|messages|all --inputs N --seed S --workers W]: a mutation
 * fuzzer with three targets (targets.ts): every reader on mutated samples of every format; quantized
 * model folders with mutated weights or quantization_config; webview → host messages. It passes when
 * every input is handled or refused by name: no other exception (crash), no input that takes more than
 * 1 s (hang), no worker over its 512 MB heap (unbounded allocation). N inputs per target. Failing
 * inputs are saved under test-results/fuzz/ and can be rebuilt from the seed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Rng } from './mutate.js';
import { TARGET_IMPLS, TARGETS, type Seed, type TargetName } from './targets.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '20261128' },
    workers: { type: 'string', default: '2' },
    target: { type: 'string', default: 'all' },
  },
});
const CHOSEN: readonly TargetName[] =
  values.target === 'all' ? TARGETS : [values.target as TargetName];
for (const t of CHOSEN)
  if (!TARGETS.includes(t)) throw new Error(`--target must be one of ${TARGETS.join(', ')}, all`);
const INPUTS = Number(values.inputs);
const SEED = Number(values.seed);
const WORKERS = Math.max(1, Number(values.workers));
const HANG_MS = 1_000;
const SEED_DIRS = ['samples', 'test/fixtures'];
const EXTENSIONS = /\.(safetensors|bin|pt|pth|ckpt|gguf|onnx)$/i;

function collectSeeds(): Seed[] {
  const out: Seed[] = [];
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

/**
 * Quantized model folders: each fixture's weights with its config.json, and each layout case with
 * the quantization_config its cases.json gives (test/fixtures/quant, written by the packers).
 */
function collectQuantSeeds(): Seed[] {
  const root = 'test/fixtures/quant';
  const out: Seed[] = [];
  for (const dir of readdirSync(root).sort()) {
    const d = join(root, dir);
    if (!statSync(d).isDirectory()) continue;
    const model = join(d, 'model.safetensors');
    if (existsSync(model) && statSync(model).size <= 1 << 20) {
      const config = join(d, 'config.json');
      out.push({
        name: `${dir}/model.safetensors`,
        bytes: new Uint8Array(readFileSync(model)),
        ...(existsSync(config) ? { config: readFileSync(config, 'utf8') } : {}),
      });
    }
    const cases = join(d, 'cases.json');
    if (!existsSync(cases)) continue;
    for (const c of JSON.parse(readFileSync(cases, 'utf8')) as {
      case: string;
      quantization_config?: unknown;
    }[]) {
      const file = join(d, `${c.case}.safetensors`);
      if (!existsSync(file)) continue;
      out.push({
        name: `${dir}/${c.case}.safetensors`,
        bytes: new Uint8Array(readFileSync(file)),
        ...(c.quantization_config
          ? { config: JSON.stringify({ quantization_config: c.quantization_config }) }
          : {}),
      });
    }
  }
  return out;
}

function seedsFor(target: TargetName): Seed[] {
  return target === 'formats' ? collectSeeds() : target === 'quant' ? collectQuantSeeds() : [];
}

/** Rebuilds the input a worker was on, from its seed and iteration: the run is deterministic. */
function replay(
  target: TargetName,
  seeds: Seed[],
  workerSeed: number,
  iteration: number,
): { name: string; bytes: Uint8Array } {
  const rng = new Rng(workerSeed || 1);
  const impl = TARGET_IMPLS[target];
  const seedBytes = seeds.map((s) => s.bytes);
  let last: never | undefined;
  for (let i = 0; i <= iteration; i++) last = impl.make(rng, seeds, seedBytes);
  return last === undefined
    ? { name: 'none', bytes: new Uint8Array(0) }
    : { name: impl.label(last), bytes: impl.save(last) };
}

interface Outcome {
  inputs: number;
  opened: number;
  codes: Record<string, number>;
  failures: string[];
}

function runWorker(
  target: TargetName,
  index: number,
  seeds: Seed[],
  iterations: number,
  outcome: Outcome,
): Promise<void> {
  const workerSeed = SEED + index * 7919;
  const heartbeat = new SharedArrayBuffer(4);
  const beat = new Int32Array(heartbeat);
  const worker = new Worker(join(dirname(process.argv[1] as string), 'worker.mjs'), {
    workerData: { target, seeds, iterations, seed: workerSeed, heartbeat },
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
  const save = (label: string, input: Uint8Array, name: string) => {
    mkdirSync('test-results/fuzz', { recursive: true });
    const file = join(
      'test-results/fuzz',
      `${target}-${label}-${workerSeed}-${Date.now()}-${name.replace(/[^\w.-]/g, '_')}`,
    );
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
        const input = replay(target, seeds, workerSeed, now);
        outcome.failures.push(
          `HANG (> ${HANG_MS / 1000} s) on iteration ${now} of worker seed ${workerSeed}: ${save('hang', input.bytes, input.name)}`,
        );
        clearInterval(watchdog);
        void worker.terminate();
      }
    }, 200);
    worker.on(
      'message',
      (m: {
        kind: string;
        done?: number;
        ok?: number;
        codes?: Record<string, number>;
        error?: string;
        input?: Uint8Array;
        where?: string;
        name?: string;
      }) => {
        if (m.kind === 'crash' && m.input) {
          outcome.failures.push(
            `CRASH in ${m.where}: ${m.error?.split('\n')[0]} → ${save('crash', m.input, m.name ?? 'input')}`,
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
      const input = replay(target, seeds, workerSeed, at);
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

async function fuzzTarget(target: TargetName): Promise<Outcome> {
  const seeds = seedsFor(target);
  console.log(
    `\nfuzz ${target}: ${INPUTS.toLocaleString('en-US')} inputs${seeds.length ? ` from ${seeds.length} seeds` : ''}, ${WORKERS} workers, seed ${SEED}`,
  );
  const started = Date.now();
  const outcome: Outcome = { inputs: 0, opened: 0, codes: {}, failures: [] };
  const per = Math.ceil(INPUTS / WORKERS);
  await Promise.all(
    Array.from({ length: WORKERS }, (_, i) =>
      runWorker(target, i, seeds, Math.max(0, Math.min(per, INPUTS - i * per)), outcome),
    ),
  );
  const secs = (Date.now() - started) / 1000;
  if (process.stdout.isTTY) process.stdout.write('\n');
  console.log(
    `  ran ${outcome.inputs.toLocaleString('en-US')} inputs in ${secs.toFixed(0)} s (${Math.round(outcome.inputs / secs).toLocaleString('en-US')}/s); handled without a refusal: ${outcome.opened.toLocaleString('en-US')}`,
  );
  console.log(
    '  named refusals:',
    Object.entries(outcome.codes)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
      .join(', ') || 'none',
  );
  if (outcome.failures.length) {
    console.log(`  ${outcome.failures.length} failure(s):`);
    for (const f of outcome.failures.slice(0, 50)) console.log(`    ${f}`);
  } else console.log(`  ${target}: 0 crashes, 0 hangs over ${HANG_MS / 1000} s, 0 out-of-memory`);
  return outcome;
}

async function main(): Promise<void> {
  let failed = 0;
  for (const t of CHOSEN) failed += (await fuzzTarget(t)).failures.length;
  if (failed > 0) process.exitCode = 1;
}

void main();
