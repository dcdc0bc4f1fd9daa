/**
 * Bakes an adapter into an ONNX model (`lora-lens merge`, the smoke test's whole-model check). Only
 * the initializers the adapter patches are rewritten, in place and at the same length; everything
 * else is a byte copy of the base. A model with external data gets one data file beside the output
 * (`<out>.data`), and its `location` entries are rewritten to name it.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { TensorInfo } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import { checkRelativePath } from '../../formats/files.js';
import type { MappedPair } from '../../mapping/mappedPair.js';
import type { MergeReport } from '../../smoke/types.js';
import { relocateExternalData } from './externalData.js';
import { copyInto, refuseSources, writeAllAtomically, type OutputFile } from './outputFiles.js';
import { patchInitializer, type PatchSink } from './patchInitializers.js';
import { planMerge, type MergePatch } from '../merge/plan.js';

export { planMerge, type MergePatch, type MergePlan } from '../merge/plan.js';
export { onnxFileOf } from './outputFiles.js';

export interface MergeOptions {
  readonly signal?: AbortSignal;
  /** More files never to write over (the caller's sources). */
  readonly protect?: readonly string[];
}

export interface MergePairOptions extends MergeOptions {
  /** The base's .onnx file (the one `pair.base` was opened from). */
  readonly baseFile: string;
  readonly outPath: string;
}

/** External data files start at multiples of this in the output, so offsets stay page-aligned. */
const DATA_ALIGNMENT = 4096;

function byTarget(patches: readonly MergePatch[]): MergePatch[][] {
  const groups = new Map<string, MergePatch[]>();
  for (const p of patches) {
    const g = groups.get(p.target.name);
    if (g) g.push(p);
    else groups.set(p.target.name, [p]);
  }
  return [...groups.values()];
}

/** Where each external data file of the base goes in the one output data file. */
async function dataLayout(
  folder: string,
  files: readonly string[],
): Promise<Map<string, { source: string; start: number }>> {
  const layout = new Map<string, { source: string; start: number }>();
  let at = 0;
  for (const file of files) {
    const source = join(folder, file);
    const size = await stat(source).then(
      (s) => s.size,
      () => {
        throw new CheckpointError(
          'ExternalDataMissing',
          `external data file "${file}" is missing from ${folder}`,
          file,
        );
      },
    );
    layout.set(file, { source, start: at });
    at = Math.ceil((at + size) / DATA_ALIGNMENT) * DATA_ALIGNMENT;
  }
  return layout;
}

/** Merges into `outPath` with an already open, mapped pair (the smoke test keeps it open). */
export async function mergeOpenPair(
  pair: Pick<MappedPair, 'adapter' | 'base' | 'analysis' | 'mapping' | 'warnings'>,
  options: MergePairOptions,
): Promise<MergeReport> {
  const { signal } = options;
  signal?.throwIfAborted();
  const baseFile = resolve(options.baseFile);
  const folder = dirname(baseFile);
  const plan = planMerge(pair.analysis, pair.mapping, pair.base);
  if (plan.patches.length === 0)
    throw new CheckpointError(
      'InvalidExport',
      `nothing to merge: no mapped module can be baked into the model${plan.warnings.length ? ` (${plan.warnings.join('; ')})` : ''}`,
    );
  const externalFiles = [
    ...new Set(pair.base.tensors.flatMap((t) => (t.file === undefined ? [] : [t.file]))),
  ];
  const out = resolve(options.outPath);
  const dataOut = externalFiles.length > 0 ? `${out}.data` : null;
  const protect = [
    ...(options.protect ?? []),
    baseFile,
    ...externalFiles.map((f) => join(folder, f)),
  ];
  await refuseSources(dataOut ? [out, dataOut] : [out], protect);
  if (
    !(await stat(dirname(out)).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw new CheckpointError(
      'FileNotFound',
      `the output folder ${dirname(out)} does not exist`,
      dirname(out),
    );

  const groups = byTarget(plan.patches);
  const inline = groups.filter((g) => (g[0] as MergePatch).target.file === undefined);
  const external = groups.filter((g) => (g[0] as MergePatch).target.file !== undefined);
  const patchAll = async (list: MergePatch[][], sink: (t: TensorInfo) => PatchSink) => {
    for (const g of list) {
      const t = (g[0] as MergePatch).target;
      await patchInitializer(pair.base, pair.adapter, g, sink(t), signal);
    }
  };

  const files: OutputFile[] = [];
  if (!dataOut) {
    files.push({
      path: out,
      write: async (h) => {
        await copyInto(baseFile, h, 0, signal);
        await patchAll(inline, (t) => async (offset, bytes) => {
          await h.write(bytes, 0, bytes.length, t.offset + offset);
        });
      },
    });
  } else {
    // The model file is small here (its weights are outside): patch and relocate it in memory.
    const model = new Uint8Array(await readFile(baseFile));
    await patchAll(inline, (t) => (offset, bytes) => {
      model.set(bytes, t.offset + offset);
      return Promise.resolve();
    });
    // Node attributes (Constant values) may name files no initializer does: collect them all.
    const referenced = new Set(externalFiles);
    relocateExternalData(model, (location) => {
      referenced.add(checkRelativePath(location, folder));
      return null;
    });
    const layout = await dataLayout(folder, [...referenced]);
    for (const { source } of layout.values()) if (!protect.includes(source)) protect.push(source);
    await refuseSources([out, dataOut], protect);
    const dataName = basename(dataOut);
    const relocated = relocateExternalData(model, (location, offset) => {
      const place = layout.get(checkRelativePath(location, folder));
      return place ? { location: dataName, offset: place.start + offset } : null;
    });
    const externalTensors = pair.base.tensors.filter((t) => t.file !== undefined).length;
    if (relocated.tensors < externalTensors)
      throw new CheckpointError(
        'InvalidExport',
        `only ${relocated.tensors} of ${externalTensors} external data references could be rewritten`,
      );
    files.push(
      { path: out, write: async (h) => void (await h.writeFile(relocated.bytes)) },
      {
        path: dataOut,
        write: async (h) => {
          for (const { source, start } of layout.values()) await copyInto(source, h, start, signal);
          await patchAll(external, (t) => async (offset, bytes) => {
            const place = layout.get(t.file as string) as { start: number };
            await h.write(bytes, 0, bytes.length, place.start + t.offset + offset);
          });
        },
      },
    );
  }
  await writeAllAtomically(files, protect);

  let bytes = 0;
  for (const f of files) bytes += (await stat(f.path)).size;
  return {
    out,
    files: files.map((f) => f.path),
    patched: plan.patches.map((p) => ({
      initializer: p.target.name,
      module: p.module.name,
      transposed: p.entry.transposed,
    })),
    bytes,
    warnings: [...pair.warnings, ...plan.warnings],
  };
}
