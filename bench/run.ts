/**
 * npm run bench: each figure is a ratio against a floor measured in the same run, on this machine,
 * so the numbers mean the same on a laptop and in CI.
 *
 * 1. Header listing: a 20,000-tensor header over a sparse 10 GB file, opened and validated by
 *    LoRA Lens, against the floor "read the 8 + N header bytes and JSON.parse them".
 * 2. Peak RSS of a fresh process that opens that file, against an empty Node process.
 * 3. The smoke test of a Llama-7B-shaped adapter in its child process (time, peak RSS, against reading
 *    the bytes once), and adapter switching against session rebuilds (bench/smokeBench.ts).
 * 4. The smoke test on a 7B-shaped Q4_0 GGUF base, and merge throughput against cp (bench/quantBench.ts).
 * 5. `lora-lens inspect` (text and --json) of that 20,000-tensor file as a child process, against a
 *    Node process reading the header + JSON.parse, and its peak RSS (bench/cliBench.ts).
 *    `npm run bench -- --cli` runs only this one.
 * 6. `map` of a 10,000-module adapter onto a 1,000,000-parameter base, against the exact-name join
 *    (bench/mapScaleBench.ts; goal < 2 s); and `lora-lens map` end to end on the same model as
 *    16 shard files, against reading and JSON.parsing every header (bench/mapCliBench.ts; `--cli
 *    --map` runs it after the CLI bench).
 * 7. The Mapping table at 100,000 modules: filter keystroke + first page, against serialising every row
 *    as the editor once did (bench/mappingTableBench.ts; goal < 50 ms).
 * 8. What an open editor keeps in the extension host for 100k / 10×100k / 1M tensors, and the fuzzy
 *    filter there (bench/hostMemoryBench.ts; goals ≤ 30 MB, < 300 MB, < 50 / < 200 ms).
 * The editor in a real VS Code, against Weightless, is `npm run bench:ui` (bench/ui/).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { openCheckpointFile, openPath } from '../src/core/formats/index.js';
import { benchCli } from './cliBench.js';
import { benchExtract } from './extractBench.js';
import { benchMapCli } from './mapCliBench.js';
import { benchMapScale } from './mapScaleBench.js';
import { benchMappingTable } from './mappingTableBench.js';
import { benchQuant } from './quantBench.js';
import { benchSmoke } from './smokeBench.js';
import { benchSurgery } from './surgeryBench.js';
import { benchTorch } from './torchBench.js';

const DIR = '.bench-tmp';
const TENSORS = 20_000;
const ROUNDS = 25;

const LAYER_KINDS = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
  'input_layernorm',
  'post_attention_layernorm',
  'self_attn.rotary',
];

/**
 * Writes a safetensors header for BF16 tensors of one shape and makes the data section a sparse hole:
 * a file of any size, written in milliseconds. Returns the file size.
 */
async function writeSparseSafetensors(
  path: string,
  names: readonly string[],
  shape: [number, number],
): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const per = shape[0] * shape[1] * 2;
  names.forEach((name, i) => {
    header[name] = { dtype: 'BF16', shape, data_offsets: [i * per, (i + 1) * per] };
  });
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const bytes = Buffer.from(text);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(bytes.length));
  const fh = await open(path, 'w');
  await fh.write(prefix, 0, 8, 0);
  await fh.write(bytes, 0, bytes.length, 8);
  await fh.truncate(8 + bytes.length + names.length * per);
  await fh.close();
  return 8 + bytes.length + names.length * per;
}

function makeSparseFile(path: string): Promise<number> {
  const names = Array.from(
    { length: TENSORS },
    (_, i) =>
      `model.layers.${Math.floor(i / LAYER_KINDS.length)}.${LAYER_KINDS[i % LAYER_KINDS.length]}.weight`,
  );
  return writeSparseSafetensors(path, names, [512, 512]);
}

const SHARDS = 17;

/** A 17-shard model like Llama-2-70B's: 80 layers × 9 tensors spread over the shards, and its index. */
async function makeShardedModel(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let l = 0; l < 80; l++) {
    // Nine tensors a layer, as in Llama (no rotary buffer).
    for (const k of LAYER_KINDS.slice(0, 9)) names.push(`model.layers.${l}.${k}.weight`);
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(names.length / SHARDS);
  for (let s = 0; s < SHARDS; s++) {
    const shard = `model-${String(s + 1).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.safetensors`;
    const part = names.slice(s * per, (s + 1) * per);
    await writeSparseSafetensors(join(dir, shard), part, [1024, 1024]);
    for (const n of part) weightMap[n] = shard;
  }
  const index = join(dir, 'model.safetensors.index.json');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    index,
    JSON.stringify(
      { metadata: { total_size: names.length * 1024 * 1024 * 2 }, weight_map: weightMap },
      null,
      2,
    ),
  );
  return index;
}

/** The floor for a sharded model: read and parse the index and every shard header, nothing else. */
async function shardedFloor(index: string): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const map = (JSON.parse(await readFile(index, 'utf8')) as { weight_map: Record<string, string> })
    .weight_map;
  let n = 0;
  for (const shard of new Set(Object.values(map))) n += await floor(join(DIR, 'sharded', shard));
  return n;
}

async function floor(path: string): Promise<number> {
  const fh = await open(path, 'r');
  const prefix = Buffer.alloc(8);
  await fh.read(prefix, 0, 8, 0);
  const n = Number(prefix.readBigUInt64LE());
  const header = Buffer.alloc(n);
  await fh.read(header, 0, n, 8);
  await fh.close();
  return Object.keys(JSON.parse(header.toString('utf8')) as object).length;
}

async function ours(path: string): Promise<number> {
  const ckpt = await openCheckpointFile(path);
  await ckpt.close();
  return ckpt.tensors.length;
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** Peak RSS of a child process running this same bundle in the given mode. */
function peakRss(mode: string, path: string): number {
  const r = spawnSync(process.execPath, [process.argv[1] as string, mode, path], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim().split('\n').pop()) / 1024; // KiB → MiB
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const path = join(DIR, 'sparse-10g.safetensors');
  try {
    const size = await makeSparseFile(path);
    console.log(
      `header listing: ${TENSORS.toLocaleString('en-US')} tensors over a sparse ${(size / 1e9).toFixed(1)} GB file, median of ${ROUNDS}`,
    );
    for (let i = 0; i < 3; i++) {
      await floor(path);
      await ours(path);
    }
    const f = await median(() => floor(path));
    const o = await median(() => ours(path));
    const ratio = o / f;
    console.log(`  floor (read header + JSON.parse)  ${f.toFixed(1)} ms`);
    console.log(`  lora-lens open + validate         ${o.toFixed(1)} ms`);
    console.log(
      `  ratio                             ${ratio.toFixed(2)}×  (goal ≤ 1.5×) ${ratio <= 1.5 ? 'OK' : 'OVER'}`,
    );

    const index = await makeShardedModel(join(DIR, 'sharded'));
    for (let i = 0; i < 3; i++) {
      await shardedFloor(index);
      await (await openPath(index)).close();
    }
    const sf = await median(() => shardedFloor(index));
    const so = await median(async () => (await openPath(index)).close());
    console.log(`sharded index: ${SHARDS} shards, 720 tensors, median of ${ROUNDS}`);
    console.log(`  floor (index + every shard header, read + JSON.parse)  ${sf.toFixed(1)} ms`);
    console.log(`  lora-lens open index + validate every shard            ${so.toFixed(1)} ms`);
    console.log(
      `  ratio                                                  ${(so / sf).toFixed(2)}×`,
    );

    for (const line of benchCli(join(DIR, 'cli'), path, TENSORS)) console.log(line);

    for (const line of await benchTorch()) console.log(line);
    for (const line of await benchExtract(join(DIR, 'extract'))) console.log(line);

    const empty = peakRss('--child-empty', path);
    const rss = peakRss('--child-open', path);
    console.log(
      `peak RSS opening it in a fresh process: ${rss.toFixed(0)} MiB (an empty Node process: ${empty.toFixed(0)} MiB; goal ≤ 80 MB) ${rss <= 80 ? 'OK' : 'OVER'}`,
    );
    for (const line of await benchSmoke(join(DIR, 'smoke'))) console.log(line);
    for (const line of await benchQuant(join(DIR, 'quant'))) console.log(line);
    for (const line of await benchSurgery()) console.log(line);
    for (const line of benchMapScale()) console.log(line);
    for (const line of await benchMapCli(join(DIR, 'mapcli'))) console.log(line);
    for (const line of benchMappingTable()) console.log(line);
    hostMemory();
  } finally {
    if (!process.env.KEEP) rmSync(DIR, { recursive: true, force: true });
  }
}

/**
 * The editor's host-side memory (bench/hostMemoryBench.ts): it needs `--expose-gc` and a fresh process
 * per scenario, so it runs as its own script.
 */
function hostMemory(): void {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'bench/hostMemoryBench.ts'],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) console.log(`host memory bench failed (exit ${r.status})`);
}

async function child(mode: string, path: string): Promise<void> {
  if (mode === '--child-open') await ours(path);
  console.log(process.resourceUsage().maxRSS);
}

/** `--cli`: only the CLI bench (bench/cliBench.ts), on the same 20,000-tensor file; `--cli --map` adds `map`. */
async function cliOnly(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const path = join(DIR, 'sparse-10g.safetensors');
  try {
    await makeSparseFile(path);
    for (const line of benchCli(join(DIR, 'cli'), path, TENSORS)) console.log(line);
    if (process.argv.includes('--map'))
      for (const line of await benchMapCli(join(DIR, 'mapcli'))) console.log(line);
  } finally {
    if (!process.env.KEEP) rmSync(DIR, { recursive: true, force: true });
  }
}

const [mode, childPath] = process.argv.slice(2);
if (mode === '--cli') void cliOnly();
else if (mode && childPath) void child(mode, childPath);
else void main();
