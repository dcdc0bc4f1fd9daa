/**
 * `merge` for any base: an ONNX base gets the adapter baked into a copy of its model (onnxMerge), every
 * other base (safetensors, sharded, folder, .bin, GGUF, quantized) the float model as safetensors.
 */
import { sourceFiles } from '../sourceFiles.js';
import { mergeOpenPair, onnxFileOf } from '../onnxMerge/index.js';
import { openMappedPair } from '../../mapping/mappedPair.js';
import type { MergeReport, MergeRequest } from '../../smoke/types.js';
import type { FloatTarget } from '../../formats/encode.js';
import { CheckpointError } from '../../formats/errors.js';
import { mergeIntoSafetensors } from './floatMerge.js';

export { baseFloatDtype, mergeIntoSafetensors, type FloatMergeReport } from './floatMerge.js';
export { parseShardSize, DEFAULT_MAX_SHARD_BYTES } from './shards.js';

export interface AnyMergeOptions {
  readonly signal?: AbortSignal;
  readonly protect?: readonly string[];
  /** Float merge only: the output dtype (default: the base's). */
  readonly dtype?: FloatTarget;
  /** Float merge only: split into shards above this many bytes. */
  readonly maxShardBytes?: number;
}

/** Opens adapter and base, maps them (mapping file, then overrides) and merges into `req.outPath`. */
export async function mergeAdapter(
  req: MergeRequest,
  options: AnyMergeOptions = {},
): Promise<MergeReport> {
  const pair = await openMappedPair({
    adapterPath: req.adapterPath,
    basePath: req.basePath,
    ...(req.mappingPath ? { mappingPath: req.mappingPath } : {}),
    ...(req.overrides ? { overrides: req.overrides } : {}),
    ...(req.hub ? { hub: req.hub } : {}),
  });
  try {
    const protect = [
      ...(options.protect ?? []),
      ...(await sourceFiles([
        req.adapterPath,
        req.basePath,
        ...(req.mappingPath ? [req.mappingPath] : []),
      ])),
    ];
    const signal = options.signal ? { signal: options.signal } : {};
    if (pair.base.format === 'onnx') {
      if (options.dtype || options.maxShardBytes)
        throw new CheckpointError(
          'InvalidExport',
          'an ONNX base is merged into ONNX in its own dtypes; --dtype and --max-shard-size apply to safetensors output only',
        );
      const baseFile = await onnxFileOf(req.basePath);
      return await mergeOpenPair(pair, { baseFile, outPath: req.outPath, protect, ...signal });
    }
    return await mergeIntoSafetensors(pair, {
      outPath: req.outPath,
      protect,
      ...signal,
      ...(options.dtype ? { dtype: options.dtype } : {}),
      ...(options.maxShardBytes ? { maxShardBytes: options.maxShardBytes } : {}),
    });
  } finally {
    await pair.close();
  }
}
