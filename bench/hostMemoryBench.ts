/**
 * Extension-host memory for big headers (issue 15, goals 3 and 5): what one open editor document keeps
 * (CheckpointDocument.load → openPath + buildDocumentModel), measured in a fresh child process per
 * scenario so peak RSS and heap figures belong to that scenario alone.
 *
 *   npx tsx --expose-gc bench/hostMemoryBench.ts           (or node --expose-gc --import tsx …)
 *
 * Fixtures: sparse safetensors files in .bench-tmp/ (header + a hole), Llama-like names
 * (`model.layers.N.self_attn.q_proj.weight`, …), 100,000 and 1,000,000 tensors; the 1M header stays
 * under the 100 MB header limit with scalar I8 tensors and no `model.` prefix (`layers.N.mlp.up_proj.weight`). Floor for the time: reading the header
 * bytes and a plain JSON.parse of them, measured in the same child.
 *
 * Per scenario: retained = (heapUsed + external) and RSS after gc, with the documents held, minus the
 * same before the build; peak = max RSS during the run minus RSS before; after release = what is left
 * once the documents are dropped and gc has run. Filter: setQuery on the path tree.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFixture } from './llamaHeaderFixture.js';
import { openPath } from '../src/core/formats/index.js';
import type { Checkpoint } from '../src/core/formats/checkpoint.js';
import { buildDocumentModel, type DocumentModel } from '../src/extension/documentModel.js';

const DIR = '.bench-tmp/host-memory';
const MB = 1024 * 1024;

interface Held {
  checkpoint: Checkpoint;
  model: DocumentModel;
}

/** What CheckpointDocument.load does for a local file (openUri → openPath, then the document model). */
async function load(path: string): Promise<Held> {
  const started = performance.now();
  const checkpoint = await openPath(path);
  const model = await buildDocumentModel(
    checkpoint,
    path.slice(path.lastIndexOf('/') + 1),
    'ranged',
    performance.now() - started,
  );
  return { checkpoint, model };
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) g();
};

function snapshot(): { heap: number; rss: number } {
  gc();
  const m = process.memoryUsage();
  return { heap: (m.heapUsed + m.external) / MB, rss: m.rss / MB };
}

const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

interface Result {
  scenario: string;
  files: number;
  tensors: number;
  headerMb: number;
  heapMb: number;
  rssMb: number;
  peakMb: number;
  releasedHeapMb: number;
  releasedRssMb: number;
  buildMs: number;
  checkpointHeapMb: number;
  floorMs: number;
  filterMs: Record<string, number>;
}

/** The documents, built in their own frame so nothing of the build outlives the array. */
async function buildAll(
  path: string,
  files: number,
  heapBefore: number,
): Promise<{ held: Held[]; buildMs: number; checkpointHeapMb: number }> {
  const held: Held[] = [];
  let buildMs = 0;
  let checkpointHeapMb = 0;
  for (let i = 0; i < files; i++) {
    const t0 = performance.now();
    const checkpoint = await openPath(path);
    const t1 = performance.now();
    if (i === 0) checkpointHeapMb = snapshot().heap - heapBefore;
    const t2 = performance.now();
    const model = await buildDocumentModel(checkpoint, 'x.safetensors', 'ranged', t1 - t0);
    // One editor: its user looks at the Tensors tab, so its tree counts. Ten editors are as
    // opened, on their Overview: a tree past 50,000 tensors is built only when its tab is shown.
    if (files === 1 || model.eagerTree) model.tree();
    const t3 = performance.now();
    if (i === 0) buildMs = t1 - t0 + (t3 - t2);
    // The Overview asks for the model report right after the first paint: it is kept, so count it.
    model.fileModel();
    held.push({ checkpoint, model });
  }
  return { held, buildMs, checkpointHeapMb };
}

/** setQuery on a document's path tree (the first query on it is cold), then the filter cleared. */
function timeFilter(model: DocumentModel): Record<string, number> {
  const filterMs: Record<string, number> = {};
  // The filter sits on the Tensors tab: showing it has built the tree before the first keystroke.
  model.tree();
  for (const q of ['q_proj', 'layers 5 mlp', 'selfattn.o', 'zzzz', 'post_attention']) {
    const t0 = performance.now();
    model.tree().setQuery(q);
    filterMs[q] = performance.now() - t0;
  }
  model.tree().setQuery('');
  return filterMs;
}

/** One scenario, in this (child) process. */
async function child(scenario: string, path: string, files: number): Promise<Result> {
  // Warm up the code paths on a small file so compiled code is not counted as retained.
  await writeFixture(join(DIR, 'warm.safetensors'), 2000, false);
  for (let i = 0; i < 3; i++) {
    const w = await load(join(DIR, 'warm.safetensors'));
    w.model.tree().setQuery('q_proj');
    w.model.tree().setQuery('');
    await w.checkpoint.close();
  }
  // The floor: header bytes + JSON.parse (best of 3).
  const raw = await readFile(path);
  const headerLength = Number(raw.readBigUInt64LE(0));
  const headerMb = headerLength / MB;
  let floorMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const text = raw.subarray(8, 8 + headerLength).toString('utf8');
    const parsed = JSON.parse(text) as object;
    floorMs = Math.min(floorMs, performance.now() - t0);
    void parsed;
  }
  const before = snapshot();
  const rssBefore = process.memoryUsage().rss / MB;
  const { held, buildMs, checkpointHeapMb } = await buildAll(path, files, before.heap);
  const after = snapshot();
  const peakMb = maxRssMb() - rssBefore;
  const filterMs = timeFilter((held[0] as Held).model);
  const tensors = (held[0] as Held).checkpoint.tensors.length;
  for (const h of held) await h.checkpoint.close();
  held.length = 0;
  const released = snapshot();
  return {
    scenario,
    files,
    tensors,
    headerMb,
    heapMb: (after.heap - before.heap) / files,
    rssMb: after.rss - before.rss,
    peakMb,
    releasedHeapMb: released.heap - before.heap,
    releasedRssMb: released.rss - before.rss,
    buildMs,
    checkpointHeapMb,
    floorMs,
    filterMs,
  };
}

const SCENARIOS: Record<string, { file: string; files: number }> = {
  '1×100k': { file: 'llama-100k.safetensors', files: 1 },
  '10×100k': { file: 'llama-100k.safetensors', files: 10 },
  '1×1M': { file: 'llama-1m.safetensors', files: 1 },
};

const GOALS: Record<string, { rss: number; heap?: number }> = {
  '1×100k': { rss: 30 },
  '10×100k': { rss: 300 },
  '1×1M': { rss: Infinity },
};

async function main(): Promise<void> {
  const [, , mode, scenario] = process.argv;
  if (mode === '--child' && scenario) {
    const s = SCENARIOS[scenario];
    if (!s) throw new Error(scenario);
    const r = await child(scenario, join(DIR, s.file), s.files);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  mkdirSync(DIR, { recursive: true });
  await writeFixture(join(DIR, 'llama-100k.safetensors'), 100_000, false);
  await writeFixture(join(DIR, 'llama-1m.safetensors'), 1_000_000, true);
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const lines: string[] = [];
  const fmt = (n: number, d = 1) => n.toFixed(d).padStart(7);
  for (const name of Object.keys(SCENARIOS)) {
    if (only.length && !only.includes(name)) continue;
    const self = process.argv[1] as string;
    const out = spawnSync(process.execPath, [...process.execArgv, self, '--child', name], {
      encoding: 'utf8',
      maxBuffer: 16 * MB,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`${name}: child failed (${out.status})\n${out.stdout}`);
    const r = JSON.parse(line.slice(7)) as Result;
    const goal = GOALS[name] as { rss: number };
    const grown = r.rssMb;
    const met = grown <= goal.rss;
    lines.push(
      `${name.padEnd(8)} ${r.tensors.toLocaleString('en-US')} tensors, header ${r.headerMb.toFixed(1)} MB` +
        (r.files > 1 ? `, ${r.files} documents held` : ''),
      `  retained RSS ${fmt(grown)} MB (goal ${Number.isFinite(goal.rss) ? `≤ ${goal.rss}` : '—'}: ${Number.isFinite(goal.rss) ? (met ? 'met' : 'NOT met') : 'n/a'})` +
        `   heap+external ${fmt(r.heapMb)} MB per document (checkpoint alone ${r.checkpointHeapMb.toFixed(1)} MB)`,
      `  peak RSS during build +${fmt(r.peakMb)} MB   after release: heap ${fmt(r.releasedHeapMb)} MB, RSS ${fmt(r.releasedRssMb)} MB`,
      `  build ${fmt(r.buildMs, 0)} ms (open+validate+analysis+trees: before the first paint) vs JSON.parse floor ${fmt(r.floorMs, 0)} ms = ${(r.buildMs / r.floorMs).toFixed(1)}×` +
        (name === '1×1M'
          ? `  (goal: well under 2000 ms: ${r.buildMs < 1000 ? 'met' : 'NOT met'})`
          : ''),
      `  filter (setQuery) ms: ${Object.entries(r.filterMs)
        .map(([q, ms]) => `"${q}" ${ms.toFixed(1)}`)
        .join(', ')}  (goal < ${name === '1×1M' ? 200 : 50}: ${
        Math.max(...Object.values(r.filterMs)) < (name === '1×1M' ? 200 : 50) ? 'met' : 'NOT met'
      })`,
    );
  }
  for (const l of lines) console.log(l);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
