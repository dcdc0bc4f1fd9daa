/**
 * `lora-lens map` end to end (issue 15, goal 4: "map of 10k modules onto 1M parameters < 2 s in the
 * CLI"): the real CLI (dist/cli.js) as a child process, on files laid out as `save_pretrained` writes
 * them, against a floor run the same way in the same run.
 *  - The base: the MoE-shaped model of mapScaleBench with 999 layers (999,003 tensors, just under the
 *    reader's cap of 1,000,000 weight_map entries), in 16 sparse safetensors
 *    shards filled in model order, each shard's tensors in name order (the safetensors writer sorts
 *    them), and a `model.safetensors.index.json` with sorted keys (transformers writes it with
 *    `sort_keys=True`).
 *  - The adapter: its 9,990 PEFT modules (lora_A/lora_B) in one sparse file.
 *  - The floor: a Node process that reads the adapter header, the index and every shard header and
 *    JSON.parses each; nothing else. Any mapper pays it before matching anything.
 * Fixtures are written once into `dir` and reused while their stamp matches.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { compare } from './cliBench.js';
import { scaleCase } from './mapScaleBench.js';

const SHARDS = 16;
const GOAL_MS = 2000;
const STAMP = 'map-cli-v2';
/** 999 layers: 999,003 tensors, under the reader's 1,000,000-entry cap on a weight_map. */
const LAYERS = 999;

const FLOOR_JS = `
const fs = require('node:fs');
const path = require('node:path');
function header(file) {
  const fd = fs.openSync(file, 'r');
  const prefix = Buffer.alloc(8);
  fs.readSync(fd, prefix, 0, 8, 0);
  const n = Number(prefix.readBigUInt64LE());
  const bytes = Buffer.alloc(n);
  fs.readSync(fd, bytes, 0, n, 8);
  fs.closeSync(fd);
  return JSON.parse(bytes.toString('utf8'));
}
let n = Object.keys(header(process.argv[2])).length;
const index = JSON.parse(fs.readFileSync(path.join(process.argv[3], 'model.safetensors.index.json'), 'utf8'));
for (const shard of new Set(Object.values(index.weight_map))) n += Object.keys(header(path.join(process.argv[3], shard))).length;
process.stdout.write(n + '\\n');
`;

interface Entry {
  readonly name: string;
  readonly shape: readonly number[];
}

/** A sparse safetensors file: the header of F16 tensors in the given order, then a hole. */
async function writeSparse(path: string, entries: readonly Entry[]): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const e of entries) {
    const bytes = e.shape.reduce((a, b) => a * b, 1) * 2;
    header[e.name] = { dtype: 'F16', shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const body = Buffer.from(text);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(body.length));
  const fh = await open(path, 'w');
  await fh.write(prefix, 0, 8, 0);
  await fh.write(body, 0, body.length, 8);
  await fh.truncate(8 + body.length + offset);
  await fh.close();
}

const byName = (a: Entry, b: Entry): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function makeFixtures(dir: string): Promise<{ adapter: string; base: string }> {
  const adapter = join(dir, 'adapter.safetensors');
  const base = join(dir, 'base');
  const stamp = join(dir, 'stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === STAMP) return { adapter, base };
  mkdirSync(base, { recursive: true });
  const c = scaleCase(LAYERS);
  await writeSparse(adapter, [...c.adapter.info.tensors].sort(byName));
  const tensors = c.base.tensors;
  const per = Math.ceil(tensors.length / SHARDS);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < SHARDS; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.safetensors`;
    const part = tensors
      .slice(s * per, (s + 1) * per)
      .map((t) => ({ name: t.name, shape: t.shape }));
    await writeSparse(join(base, file), [...part].sort(byName));
    for (const t of part) {
      weightMap[t.name] = file;
      total += t.shape.reduce((a, b) => a * b, 1) * 2;
    }
  }
  const sorted = Object.fromEntries(
    Object.keys(weightMap)
      .sort()
      .map((k) => [k, weightMap[k]]),
  );
  await writeFile(
    join(base, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2),
  );
  writeFileSync(stamp, STAMP);
  return { adapter, base };
}

/** Runs the bench (dist/cli.js must be built: benchCli builds it); returns the lines to print. */
export async function benchMapCli(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const { adapter, base } = await makeFixtures(dir);
  const floorJs = join(dir, 'floor.cjs');
  writeFileSync(floorJs, FLOOR_JS);
  const cli = resolve('dist/cli.js');
  const lines = [
    'lora-lens map (child processes): 9,990 modules onto a 999,003-parameter, 16-shard base; baseline = node reading and JSON.parsing the adapter header, the index and every shard header',
  ];
  for (const [label, args] of [
    ['map (text)', [cli, 'map', adapter, '--base', base]],
    ['map --json', [cli, 'map', adapter, '--base', base, '--json']],
  ] as const) {
    const r = compare(args, [floorJs, adapter, base], 3, 1, {
      ...process.env,
      LORA_LENS_CACHE_DIR: join(dir, 'code-cache'),
    });
    lines.push(
      `  ${label.padEnd(12)} ours ${r.ours.ms.toFixed(0).padStart(6)} ms (CPU ${r.ours.cpuMs.toFixed(0)} ms, peak RSS ${r.ours.rssMiB.toFixed(0)} MiB)  baseline ${r.base.ms.toFixed(0).padStart(6)} ms (RSS ${r.base.rssMiB.toFixed(0)} MiB)  ratio ${(r.ours.ms / r.base.ms).toFixed(2)}×  goal < ${GOAL_MS} ms: ${r.ours.ms < GOAL_MS ? 'met' : 'NOT met'}${r.base.ms >= GOAL_MS ? ' (the baseline alone is over it)' : ''}`,
    );
  }
  return lines;
}

if (typeof module !== 'undefined' && require.main === module) {
  void benchMapCli(resolve('.bench-tmp/mapcli')).then((ls) => {
    for (const l of ls) console.log(l);
  });
}
