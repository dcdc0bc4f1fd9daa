/**
 * The whole-model check of the smoke test, for ONNX bases: merge the adapter into a temporary copy of
 * the model, run base and merged on the same inputs (a reference file's, or generated ones), and say
 * per output whether it is finite, how much the adapter changes it, and whether it matches the
 * reference. Then measure multi-LoRA switching on a LoRA-input variant of the base.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { mergeOpenPair, onnxFileOf, planMerge } from '../../export/onnxMerge/index.js';
import { sourceFiles } from '../../export/sourceFiles.js';
import { CheckpointError } from '../../formats/errors.js';
import type { MappedPair } from '../../mapping/mappedPair.js';
import type {
  EpName,
  SmokeModelOutput,
  SmokeModelResult,
  SmokeRequest,
  SmokeSwitchResult,
} from '../types.js';
import { compareOutput, toleranceFor } from './compareOutputs.js';
import { sessionOptions } from './ortValues.js';
import { checkReference, readReference, referenceNumbers, toOrtTensor } from './referenceFile.js';
import { generateInputs, vocabSize } from './sampleInputs.js';
import { measureSwitching } from './switching.js';

export type OrtModule = typeof import('onnxruntime-node');

export interface WholeModelResult {
  readonly model: SmokeModelResult;
  readonly switching: SmokeSwitchResult | null;
}

export async function checkWholeModel(
  ort: OrtModule,
  ep: EpName,
  pair: MappedPair,
  req: SmokeRequest,
  options: { signal?: AbortSignal; tempDir: string },
): Promise<WholeModelResult> {
  const t0 = performance.now();
  const { signal, tempDir } = options;
  const problems: string[] = [];
  const failed = (why: string): WholeModelResult => ({
    model: {
      ok: false,
      patched: 0,
      inputs: req.referencePath ? 'reference' : 'generated',
      outputs: [],
      ms: performance.now() - t0,
      problems: [...problems, why],
    },
    switching: null,
  });

  let baseFile: string;
  try {
    baseFile = await onnxFileOf(req.basePath);
  } catch (e) {
    if (e instanceof CheckpointError) return failed(`the whole model cannot run: ${e.message}`);
    throw e;
  }
  const opts = sessionOptions(ep);
  const sessions: Ort.InferenceSession[] = [];
  const written: string[] = [];
  try {
    const base = await ort.InferenceSession.create(baseFile, opts);
    sessions.push(base);
    // A bad reference is the caller's mistake, not the adapter's: refused before any work.
    const reference = req.referencePath ? await readReference(req.referencePath) : null;
    if (reference) checkReference(reference, base);

    const mergedPath = join(tempDir, 'merged.onnx');
    let plan;
    let report;
    try {
      plan = planMerge(pair.analysis, pair.mapping, pair.base);
      report = await mergeOpenPair(pair, {
        baseFile,
        outPath: mergedPath,
        protect: await sourceFiles([
          req.adapterPath,
          req.basePath,
          ...(req.mappingPath ? [req.mappingPath] : []),
        ]),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (e instanceof CheckpointError) return failed(`merge failed: ${e.message}`);
      throw e;
    }
    written.push(...report.files);
    problems.push(...report.warnings.map((w) => `merge: ${w}`));
    const merged = await ort.InferenceSession.create(mergedPath, opts);
    sessions.push(merged);

    let feeds: Record<string, Ort.Tensor>;
    if (reference) {
      feeds = {};
      for (const [name, t] of reference.inputs) feeds[name] = toOrtTensor(ort, t);
    } else {
      const generated = generateInputs(
        ort,
        base.inputMetadata,
        vocabSize(pair.base.tensors),
        req.seed ?? 0,
      );
      if (generated.problems.length > 0) return failed(generated.problems.join('; '));
      feeds = generated.feeds;
    }
    signal?.throwIfAborted();
    const baseOut = await base.run(feeds);
    const mergedOut = await merged.run(feeds);

    const tolerance = toleranceFor(
      [
        ...plan.patches.map((p) => p.dtype),
        ...merged.outputMetadata.flatMap((m) => (m.isTensor ? [m.type] : [])),
      ],
      plan.patches.some((p) => p.module.kind === 'conv'),
    );
    const outputs: SmokeModelOutput[] = [];
    for (const name of merged.outputNames) {
      const b = baseOut[name];
      const m = mergedOut[name];
      if (!b || !m) continue;
      const ref = reference?.outputs.get(name);
      const expected = ref
        ? { label: 'reference', shape: ref.shape, values: referenceNumbers(ref) }
        : undefined;
      const c = compareOutput(name, b, m, expected, tolerance);
      outputs.push(c.output);
      problems.push(...c.problems);
    }

    let switching: SmokeSwitchResult | null = null;
    try {
      const s = await measureSwitching(ort, ep, {
        adapter: pair.adapter,
        base: pair.base,
        patches: plan.patches,
        baseFile,
        mergedPath,
        tempDir,
        feeds,
        mergedOutputs: mergedOut,
        tolerance,
        seed: req.seed ?? 0,
        ...(signal ? { signal } : {}),
      });
      switching = s.switching;
      problems.push(...s.problems);
    } catch (e) {
      signal?.throwIfAborted();
      problems.push(`switching not measured: ${e instanceof Error ? e.message : String(e)}`);
    }

    return {
      model: {
        ok: outputs.length > 0 && outputs.every((o) => o.ok),
        patched: report.patched.length,
        inputs: reference ? 'reference' : 'generated',
        outputs,
        ms: performance.now() - t0,
        problems,
      },
      switching,
    };
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
    await Promise.all(written.map((f) => rm(f, { force: true })));
  }
}
