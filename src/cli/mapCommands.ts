import { resolve } from 'node:path';
import { sourceFiles } from '../core/export/sourceFiles.js';
import type { HubOptions } from '../core/formats/index.js';
import {
  toMappingFile,
  writeMappingFile,
  writeRemappedAdapter,
  type ConversionRecord,
  type ExportNaming,
} from '../core/mapping/export/index.js';
import { openMappedPair, type MappedPair } from '../core/mapping/mappedPair.js';
import type { CheckpointIdentity, MappingConflict, TargetSlice } from '../core/mapping/types.js';
import { formatBytes, formatInt } from '../shared/format.js';

export interface MapCliOptions {
  /** A mapping file whose entries are replayed as overrides (user and matcher entries alike). */
  readonly mappingPath?: string;
  /** Exit code 1 when anything is unmatched or in conflict. */
  readonly strict?: boolean;
  readonly hub?: HubOptions;
  /** Also write the result as a mapping file here (atomically, never over a source). */
  readonly savePath?: string;
  /** false: leave the checkpoints' identities out (null) unless saving; the text output shows none. */
  readonly identities?: boolean;
}

export interface MapJsonEntry {
  module: string;
  target: string;
  confidence: number;
  level: string;
  reason: string;
  transposed: boolean;
  slice: TargetSlice | null;
  shapeCheck: string;
  source: string;
  /** The target's quantization scheme, when the base weight is quantized. */
  targetQuant?: string;
}

export interface MapJson {
  mappings: MapJsonEntry[];
  unmatchedAdapter: string[];
  unusedBase: string[];
  conflicts: MappingConflict[];
  /** null when the caller said it shows no identities (`identities: false`, the text output). */
  adapter: CheckpointIdentity | null;
  base: CheckpointIdentity | null;
  /** The mapping file written with savePath, or null. */
  saved: string | null;
  warnings: string[];
}

/** Opens and maps the pair (mapping file applied), runs `use`, and closes both. */
async function withMappedPair<T>(
  adapterPath: string,
  basePath: string,
  options: { readonly hub?: HubOptions; readonly mappingPath?: string },
  use: (pair: MappedPair) => Promise<T>,
): Promise<T> {
  const pair = await openMappedPair({
    adapterPath,
    basePath,
    ...(options.mappingPath ? { mappingPath: options.mappingPath } : {}),
    ...(options.hub ? { hub: options.hub } : {}),
  });
  try {
    return await use(pair);
  } finally {
    await pair.close();
  }
}

/** `lora-lens map`: the mapping of an adapter onto a base, as JSON. */
export async function runMap(
  adapterPath: string,
  basePath: string,
  options: MapCliOptions = {},
): Promise<MapJson> {
  return withMappedPair(adapterPath, basePath, options, async (pair) => {
    const { mapping: result } = pair;
    const ids = options.identities === false && !options.savePath ? null : await pair.identities();
    let saved: string | null = null;
    if (options.savePath && ids) {
      saved = resolve(options.savePath);
      await writeMappingFile(saved, toMappingFile(result, ids.adapter, ids.base), {
        protect: await sourceFiles([
          adapterPath,
          basePath,
          ...(options.mappingPath ? [options.mappingPath] : []),
        ]),
      });
    }
    return {
      mappings: result.mappings.map((e) => ({
        module: e.module,
        target: e.target,
        confidence: e.confidence,
        level: e.level,
        reason: e.reason,
        transposed: e.transposed,
        slice: e.slice,
        shapeCheck: e.shapeCheck,
        source: e.source,
        ...(e.targetQuant ? { targetQuant: e.targetQuant } : {}),
      })),
      unmatchedAdapter: [...result.unmatchedAdapter],
      unusedBase: [...result.unusedBase],
      conflicts: [...result.conflicts],
      adapter: ids?.adapter ?? null,
      base: ids?.base ?? null,
      saved,
      warnings: [...pair.warnings],
    };
  });
}

/** Exit code of `map`: 1 with --strict when anything is unmatched or in conflict. */
export function mapExitCode(j: MapJson, strict: boolean): 0 | 1 {
  return strict && (j.conflicts.length > 0 || j.unmatchedAdapter.length > 0) ? 1 : 0;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export function mapText(j: MapJson): string {
  const lines: string[] = [];
  lines.push(
    `${formatInt(j.mappings.length)} mapped, ${formatInt(j.unmatchedAdapter.length)} unmatched, ${formatInt(j.conflicts.length)} conflicts, ${formatInt(j.unusedBase.length)} base targets unused`,
  );
  if (j.unmatchedAdapter.length) {
    lines.push('', 'Unmatched adapter modules:');
    for (const u of j.unmatchedAdapter) lines.push(`  ${u}`);
  }
  if (j.conflicts.length) {
    lines.push('', 'Conflicts:');
    for (const c of j.conflicts) lines.push(`  ${c.module} → ${c.target ?? '(none)'}: ${c.reason}`);
  }
  if (j.mappings.length) {
    lines.push('', 'Mappings:');
    const rows = [['module', '', 'target', 'level', 'shape', 'reason']];
    for (const m of j.mappings) {
      const shape =
        m.shapeCheck +
        (m.targetQuant ? ` (${m.targetQuant})` : '') +
        (m.transposed && m.shapeCheck !== 'transposed' ? ', transposed' : '') +
        (m.slice ? ` [${m.slice.start}:${m.slice.end}] axis ${m.slice.axis}` : '');
      rows.push([
        m.module,
        '→',
        m.target,
        m.source === 'user' ? `${m.level} (user)` : m.level,
        shape,
        m.reason,
      ]);
    }
    lines.push(...table(rows).map((l) => `  ${l}`));
  }
  if (j.unusedBase.length) {
    lines.push('', `Unused base targets (${formatInt(j.unusedBase.length)}):`);
    for (const u of j.unusedBase.slice(0, 20)) lines.push(`  ${u}`);
    if (j.unusedBase.length > 20) lines.push(`  … ${formatInt(j.unusedBase.length - 20)} more`);
  }
  if (j.saved) lines.push('', `wrote ${j.saved}`);
  for (const w of j.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export interface ExportCliOptions {
  readonly out: string;
  readonly naming: ExportNaming;
  readonly mappingPath?: string;
  readonly hub?: HubOptions;
}

export interface ExportJson {
  out: string;
  tensors: number;
  bytes: number;
  naming: ExportNaming;
  /** adapter_config.json written beside the output (`peft` naming), or null. */
  adapterConfig: string | null;
  modules: number;
  skipped: { module: string; reason: string }[];
  /** Fused ↔ split conversions (split q/k/v fused onto qkv_proj, a fused LoRA split onto q/k/v). */
  conversions: ConversionRecord[];
  warnings: string[];
}

/** `lora-lens export`: the adapter under another family's names, following the mapping. */
export async function runExport(
  adapterPath: string,
  basePath: string,
  options: ExportCliOptions,
): Promise<ExportJson> {
  return withMappedPair(adapterPath, basePath, options, async (pair) => {
    const { adapter, base, analysis, mapping: result } = pair;
    const protect = await sourceFiles([
      adapterPath,
      basePath,
      ...(options.mappingPath ? [options.mappingPath] : []),
    ]);
    const r = await writeRemappedAdapter(adapter, base, analysis, result, {
      out: options.out,
      naming: options.naming,
      sourcePaths: protect,
    });
    return {
      out: r.out,
      tensors: r.tensors,
      bytes: r.bytes,
      naming: r.naming,
      adapterConfig: r.adapterConfigPath,
      modules: r.modules.length,
      skipped: [...r.skipped],
      conversions: [...r.conversions],
      warnings: [...pair.warnings, ...r.warnings],
    };
  });
}

export function exportText(j: ExportJson): string {
  const lines = [
    `wrote ${j.out}`,
    `  ${formatInt(j.tensors)} tensors, ${formatBytes(j.bytes)}, ${formatInt(j.modules)} modules in ${j.naming} naming`,
  ];
  if (j.adapterConfig) lines.push(`  and ${j.adapterConfig}`);
  for (const c of j.conversions) {
    lines.push(
      c.kind === 'fuse'
        ? `  fused ${c.members.map((m) => m.module).join(', ')} → ${c.fused} (rank ${c.rank}, scale ${c.scale}; ${c.layout})`
        : `  split ${c.fused} → ${c.members.map((m) => m.target).join(', ')} (rank ${c.rank}, scale ${c.scale}; ${c.layout})`,
    );
    if (c.rescaled.length) lines.push(`    A rows rescaled to one scale: ${c.rescaled.join(', ')}`);
  }
  if (j.skipped.length) {
    lines.push(`  left out ${formatInt(j.skipped.length)} modules:`);
    for (const s of j.skipped) lines.push(`    ${s.module}: ${s.reason}`);
  }
  for (const w of j.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
