import { mergeAdapterIntoOnnx } from '../core/export/onnxMerge/index.js';
import type { HubOptions } from '../core/formats/index.js';
import type { MergeReport } from '../core/smoke/types.js';
import { formatBytes, formatInt } from '../shared/format.js';

export interface MergeCliOptions {
  /** The merged model to write (its external data goes beside it as `<out>.data`). */
  readonly out: string;
  /** A reviewed mapping file, replayed as overrides. */
  readonly mappingPath?: string;
  readonly hub?: HubOptions;
}

/** `lora-lens merge`: the adapter baked into the ONNX model's weights, written to a new model. */
export function runMerge(
  adapterPath: string,
  basePath: string,
  options: MergeCliOptions,
): Promise<MergeReport> {
  return mergeAdapterIntoOnnx({
    adapterPath,
    basePath,
    outPath: options.out,
    ...(options.mappingPath ? { mappingPath: options.mappingPath } : {}),
    ...(options.hub ? { hub: options.hub } : {}),
  });
}

export function mergeText(r: MergeReport): string {
  const lines: string[] = [];
  const n = r.patched.length;
  lines.push(
    `merged ${formatInt(n)} module${n === 1 ? '' : 's'} into ${r.out} (${formatBytes(r.bytes)})`,
  );
  for (const f of r.files.slice(1)) lines.push(`  with external data ${f}`);
  if (n > 0) {
    lines.push('', 'Patched initializers:');
    const width = Math.max(...r.patched.map((p) => p.initializer.length));
    for (const p of r.patched)
      lines.push(
        `  ${p.initializer.padEnd(width)}  ←  ${p.module}${p.transposed ? ' (stored transposed)' : ''}`,
      );
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
