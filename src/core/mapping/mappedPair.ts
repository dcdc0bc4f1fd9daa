import { resolve } from 'node:path';
import type { Checkpoint } from '../formats/checkpoint.js';
import { openPath, parseHubRef, type HubOptions } from '../formats/index.js';
import { scalarReader } from '../lora/checkpointScalars.js';
import { analyzeLora, type LoraAnalysis } from '../lora/index.js';
import {
  checkpointIdentity,
  identityMatches,
  overridesFrom,
  readMappingFile,
} from './export/mappingFile.js';
import { mapAdapter } from './map.js';
import type { CheckpointIdentity, MappingOverride, MappingResult } from './types.js';

export interface MappedPairRequest {
  readonly adapterPath: string;
  readonly basePath: string;
  /** A reviewed mapping file, replayed as overrides. */
  readonly mappingPath?: string;
  /** Further overrides (the editor's user decisions); they win over the mapping file's. */
  readonly overrides?: readonly MappingOverride[];
  readonly hub?: HubOptions;
}

export interface PairIdentities {
  readonly adapter: CheckpointIdentity;
  readonly base: CheckpointIdentity;
}

/** An adapter, its base and the mapping between them, open until `close()`. */
export interface MappedPair {
  readonly adapter: Checkpoint;
  readonly base: Checkpoint;
  readonly analysis: LoraAnalysis;
  readonly mapping: MappingResult;
  /**
   * Both checkpoints' identities (header hashes), computed on the first call: at 1M base tensors a
   * folder's table hash costs about 0.6 s that a command showing no identity need not pay.
   */
  identities(): Promise<PairIdentities>;
  /** E.g. the mapping file was made for other checkpoints. */
  readonly warnings: readonly string[];
  close(): Promise<void>;
}

function identityPath(p: string): string {
  return parseHubRef(p) ? p : resolve(p);
}

/**
 * Opens both checkpoints, analyses the adapter and maps it, applying the mapping file and then the
 * given overrides. The CLI commands, the smoke test and the ONNX merge all start here, so they agree
 * on what "the mapping" is.
 */
export async function openMappedPair(req: MappedPairRequest): Promise<MappedPair> {
  const opts = req.hub ? { hub: req.hub } : {};
  const adapter = await openPath(req.adapterPath, opts);
  let base: Checkpoint | undefined;
  try {
    base = await openPath(req.basePath, opts);
    const analysis = await analyzeLora(adapter, { readScalar: scalarReader(adapter) });
    const opened = base;
    let ids: Promise<PairIdentities> | undefined;
    const identities = (): Promise<PairIdentities> =>
      (ids ??= (async () => ({
        adapter: await checkpointIdentity(adapter, identityPath(req.adapterPath)),
        base: await checkpointIdentity(opened, identityPath(req.basePath)),
      }))());
    const warnings: string[] = [];
    const overrides: MappingOverride[] = [];
    if (req.mappingPath) {
      const file = await readMappingFile(req.mappingPath);
      const { adapter: adapterId, base: baseId } = await identities();
      if (!identityMatches(file.adapter, adapterId))
        warnings.push(
          `${req.mappingPath} was made for adapter ${file.adapter.path}, whose header differs from ${adapterId.path}`,
        );
      if (!identityMatches(file.base, baseId))
        warnings.push(
          `${req.mappingPath} was made for base ${file.base.path}, whose header differs from ${baseId.path}`,
        );
      overrides.push(...overridesFrom(file, { all: true }));
    }
    // Later overrides replace earlier ones for the same module.
    const byModule = new Map<string, MappingOverride>();
    for (const o of [...overrides, ...(req.overrides ?? [])]) byModule.set(o.module, o);
    const mapping = mapAdapter(
      { analysis, info: adapter },
      base,
      byModule.size > 0 ? { overrides: [...byModule.values()] } : {},
    );
    return {
      adapter,
      base: opened,
      analysis,
      mapping,
      identities,
      warnings,
      close: async () => {
        await opened.close();
        await adapter.close();
      },
    };
  } catch (e) {
    await base?.close();
    await adapter.close();
    throw e;
  }
}
