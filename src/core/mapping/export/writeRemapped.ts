import { dirname, join, resolve } from 'node:path';
import { writeJsonAtomically } from '../../export/atomicFile.js';
import type { Checkpoint } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import type { LoraAnalysis } from '../../lora/types.js';
import type { MappingResult } from '../types.js';
import { exportRemapped, ropeFromConfig, type ExportNaming, type RemapResult } from './remap.js';

export interface WrittenRemap extends RemapResult {
  /** adapter_config.json written beside the output (PEFT naming), or null. */
  readonly adapterConfigPath: string | null;
}

/**
 * The whole remapped export as the CLI and the editor do it: GGUF names get the converter's RoPE
 * permutation from the base's config, and a PEFT export writes its adapter_config.json beside the
 * weights. That config must not replace a source's, so the export is refused before anything is written.
 */
export async function writeRemappedAdapter(
  adapter: Checkpoint,
  base: Checkpoint,
  analysis: LoraAnalysis,
  result: MappingResult,
  options: { out: string; naming: ExportNaming; sourcePaths: readonly string[] },
): Promise<WrittenRemap> {
  const out = resolve(options.out);
  const configPath = join(dirname(out), 'adapter_config.json');
  if (options.naming === 'peft' && options.sourcePaths.includes(configPath)) {
    throw new CheckpointError(
      'WouldOverwriteSource',
      `a PEFT export writes adapter_config.json, and ${configPath} belongs to a source; choose another folder`,
      configPath,
    );
  }
  const r = await exportRemapped(adapter, analysis, result, {
    out,
    naming: options.naming,
    sourcePaths: options.sourcePaths,
    base,
    ...(options.naming === 'gguf' && analysis.family !== 'gguf'
      ? { ropePermute: ropeFromConfig(base) }
      : {}),
  });
  if (!r.adapterConfig) return { ...r, adapterConfigPath: null };
  await writeJsonAtomically(configPath, r.adapterConfig, { protect: options.sourcePaths });
  return { ...r, adapterConfigPath: configPath };
}
