/**
 * Multi-LoRA switching: one session of the base model with LoRA inputs (loraInputs.ts) runs the
 * adapter, then a second, synthetic one of the same shapes, by changing feeds. Its output with the
 * real adapter must equal the merged model's; then switching (new feeds, same session) is timed
 * against rebuilding (a fresh session of the merged model, created and run).
 */
import { copyFile, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { loadPair } from '../../export/merge/deltas.js';
import type { MergePatch } from '../../export/merge/plan.js';
import type { Checkpoint } from '../../formats/checkpoint.js';
import type { EpName, SmokeSwitchResult } from '../types.js';
import { agreement, type Tolerance } from './compareOutputs.js';
import { buildLoraInputModel, type LoraBranch } from './loraInputs.js';
import {
  floatTensor,
  numbersOf,
  seededRandom,
  sessionOptions,
  type OrtModule,
} from './ortValues.js';

const REPETITIONS = 3;
/** Standard deviation of the synthetic adapter's factors. */
const SYNTHETIC_STD = 0.02;

export interface SwitchingInput {
  readonly adapter: Checkpoint;
  readonly base: Checkpoint;
  readonly patches: readonly MergePatch[];
  readonly baseFile: string;
  readonly mergedPath: string;
  readonly tempDir: string;
  readonly feeds: Readonly<Record<string, Ort.Tensor>>;
  readonly mergedOutputs: Readonly<Record<string, Ort.Tensor>>;
  readonly tolerance: Tolerance;
  readonly seed: number;
  readonly signal?: AbortSignal;
}

export interface SwitchingOutcome {
  readonly switching: SmokeSwitchResult | null;
  readonly problems: readonly string[];
}

/** Why a patch cannot become a LoRA-input branch, or null. */
function ineligible(p: MergePatch): string | null {
  if (p.module.kind !== 'linear') return `${p.module.name} is ${p.module.kind}, not linear`;
  if (p.magnitude) return `${p.module.name} is DoRA`;
  if (p.entry.slice) return `${p.module.name} patches a slice of a fused weight`;
  if (!p.transposed) return `${p.target.name} is not stored [in, out] as a MatMul weight`;
  if (p.dtype === 'BF16') return `${p.target.name} is BF16, which ORT cannot take as an input`;
  return null;
}

/** Puts the base's external data files beside the variant (ORT only reads them from its folder). */
async function placeExternalData(
  base: Checkpoint,
  baseFile: string,
  tempDir: string,
): Promise<string[]> {
  const placed: string[] = [];
  for (const file of new Set(base.tensors.flatMap((t) => (t.file ? [t.file] : [])))) {
    const to = join(tempDir, file);
    await mkdir(dirname(to), { recursive: true });
    const from = join(dirname(baseFile), file);
    // A hard link costs nothing; across file systems, copy (a reflink where the system has one).
    await link(from, to).catch(() => copyFile(from, to));
    placed.push(to);
  }
  return placed;
}

type Feeds = Record<string, Ort.Tensor>;

function adapterFeeds(
  ort: OrtModule,
  branches: readonly LoraBranch[],
  names: readonly { a: string; b: string; scale: string }[],
  factors: readonly { a: ArrayLike<number>; b: ArrayLike<number>; scale: number }[],
): Feeds {
  const feeds: Feeds = {};
  branches.forEach((br, i) => {
    const n = names[i] as (typeof names)[number];
    const f = factors[i] as (typeof factors)[number];
    feeds[n.a] = floatTensor(ort, br.elemType, f.a, [br.rank, br.inFeatures]);
    feeds[n.b] = floatTensor(ort, br.elemType, f.b, [br.outFeatures, br.rank]);
    feeds[n.scale] = floatTensor(ort, br.elemType, [f.scale], [1]);
  });
  return feeds;
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

export async function measureSwitching(
  ort: OrtModule,
  ep: EpName,
  input: SwitchingInput,
): Promise<SwitchingOutcome> {
  const skip = (why: string): SwitchingOutcome => ({
    switching: null,
    problems: [`switching not measured: ${why}`],
  });
  const why = input.patches.map(ineligible).find((w) => w !== null);
  if (why) return skip(why);
  const branches: LoraBranch[] = input.patches.map((p) => ({
    initializer: p.target.name,
    rank: p.rank,
    inFeatures: p.inK,
    outFeatures: p.out,
    elemType: p.dtype === 'F16' ? 'float16' : 'float32',
  }));
  const built = buildLoraInputModel(
    new Uint8Array(await readFile(input.baseFile)),
    branches,
    (name) => (input.base.tensor(name).consumers ?? []).map((c) => c.op),
  );
  if (typeof built === 'string') return skip(built);

  const variantPath = join(input.tempDir, 'lora-inputs.onnx');
  const written = [variantPath];
  let session: Ort.InferenceSession | undefined;
  try {
    await writeFile(variantPath, built.bytes);
    written.push(...(await placeExternalData(input.base, input.baseFile, input.tempDir)));
    session = await ort.InferenceSession.create(variantPath, sessionOptions(ep));

    const real = [];
    for (const p of input.patches) {
      const f = await loadPair(input.adapter, p);
      const a = new Float64Array(p.rank * p.inK);
      for (let i = 0; i < p.inK; i++)
        for (let k = 0; k < p.rank; k++) a[k * p.inK + i] = f.at[i * p.rank + k] as number;
      real.push({ a, b: f.b, scale: p.scale });
    }
    const rng = seededRandom(input.seed + 1);
    const synthetic = input.patches.map((p) => ({
      a: Float64Array.from({ length: p.rank * p.inK }, () => rng.normal() * SYNTHETIC_STD),
      b: Float64Array.from({ length: p.out * p.rank }, () => rng.normal() * SYNTHETIC_STD),
      scale: p.scale,
    }));
    const adapters = [real, synthetic].map((f) => ({
      ...input.feeds,
      ...adapterFeeds(ort, branches, built.inputs, f),
    }));

    const problems: string[] = [];
    const first = await session.run(adapters[0] as Feeds);
    for (const [name, merged] of Object.entries(input.mergedOutputs)) {
      const got = first[name];
      const m = numbersOf(merged);
      const g = got ? numbersOf(got) : null;
      if (!m || !g || m.length !== g.length) continue;
      const a = agreement(g, m, input.tolerance);
      if (a.outside > 0)
        problems.push(
          `switching: output ${name} of the LoRA-input model differs from the merged model by up to ${a.maxAbsErr.toExponential(2)} at ${a.outside} of ${m.length} values`,
        );
    }
    await session.run(adapters[1] as Feeds); // warm-up of the second adapter

    let switchMs = 0;
    for (let k = 0; k < REPETITIONS; k++) {
      input.signal?.throwIfAborted();
      const s = session;
      switchMs += await timed(() => s.run(adapters[(k + 1) % 2] as Feeds));
    }
    let rebuildMs = 0;
    for (let k = 0; k < REPETITIONS; k++) {
      input.signal?.throwIfAborted();
      rebuildMs += await timed(async () => {
        const fresh = await ort.InferenceSession.create(input.mergedPath, sessionOptions(ep));
        try {
          await fresh.run(input.feeds);
        } finally {
          await fresh.release();
        }
      });
    }
    return {
      switching: {
        adapters: adapters.length,
        switchMs: switchMs / REPETITIONS,
        rebuildMs: rebuildMs / REPETITIONS,
      },
      problems,
    };
  } finally {
    await session?.release();
    await Promise.all(written.map((f) => rm(f, { force: true })));
  }
}
