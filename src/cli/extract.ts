import { dirname, join, resolve } from 'node:path';
import { writeJsonAtomically } from '../core/export/atomicFile.js';
import { sourceFiles } from '../core/export/sourceFiles.js';
import { extractWeights, type ExtractResult } from '../core/export/extract.js';
import type { FloatTarget } from '../core/formats/encode.js';
import { openPath } from '../core/formats/index.js';
import { analyzeLora } from '../core/lora/index.js';
import { scalarReader } from '../core/lora/checkpointScalars.js';
import { formatBytes, formatInt } from '../shared/format.js';

export interface ExtractCliOptions {
  readonly out: string;
  readonly dtype?: FloatTarget;
  readonly onlyLora: boolean;
  readonly adapterConfig: boolean;
}

export interface ExtractJson {
  out: string;
  tensors: number;
  bytes: number;
  dropped: { name: string; reason: string }[];
  renamed: number;
  family: string;
  adapterConfig: string | null;
  warnings: string[];
}

/** `lora-lens extract`: a weights-only adapter from any checkpoint, plus adapter_config.json on request. */
export async function runExtract(input: string, options: ExtractCliOptions): Promise<ExtractJson> {
  const ckpt = await openPath(input);
  try {
    const analysis = await analyzeLora(ckpt, { readScalar: scalarReader(ckpt) });
    const result: ExtractResult = await extractWeights(ckpt, analysis, {
      out: options.out,
      sourcePath: resolve(input),
      onlyLora: options.onlyLora,
      ...(options.dtype ? { dtype: options.dtype } : {}),
    });
    let configPath: string | null = null;
    if (options.adapterConfig && result.adapterConfig) {
      configPath = join(dirname(resolve(options.out)), 'adapter_config.json');
      // The source's own adapter_config.json is a source file too: never overwritten.
      await writeJsonAtomically(configPath, result.adapterConfig, {
        protect: await sourceFiles([input]),
      });
    }
    return {
      out: resolve(result.out),
      tensors: result.tensors,
      bytes: result.bytes,
      dropped: result.dropped,
      renamed: result.renamed,
      family: analysis.family,
      adapterConfig: configPath,
      warnings: options.adapterConfig ? result.warnings : [],
    };
  } finally {
    await ckpt.close();
  }
}

export function extractText(j: ExtractJson): string {
  const lines = [
    `wrote ${j.out}`,
    `  ${formatInt(j.tensors)} tensors, ${formatBytes(j.bytes)} (${j.family} adapter${j.renamed ? `, ${j.renamed} keys renamed to save_pretrained names` : ''})`,
  ];
  if (j.adapterConfig) lines.push(`  and ${j.adapterConfig}`);
  for (const w of j.warnings) lines.push(`  warning: ${w}`);
  if (j.dropped.length) {
    lines.push(`  dropped ${formatInt(j.dropped.length)} tensors:`);
    const byReason = new Map<string, number>();
    for (const d of j.dropped) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
    for (const [reason, n] of byReason) lines.push(`    ${formatInt(n)} × ${reason}`);
  }
  return lines.join('\n');
}
