import { mergeAdapter } from '../core/export/merge/index.js';
import type { FloatTarget } from '../core/formats/encode.js';
import type { HubOptions } from '../core/formats/index.js';
import type { MergeReport } from '../core/smoke/types.js';
import { formatBytes, formatInt } from '../shared/format.js';

export interface MergeCliOptions {
  /**
   * The merged model to write: `<out>.onnx` (external data beside it as `<out>.data`) for an ONNX
   * base; a `.safetensors` file or a folder for any other base.
   */
  readonly out: string;
  readonly dtype?: FloatTarget;
  readonly maxShardBytes?: number;
  /** A reviewed mapping file, replayed as overrides. */
  readonly mappingPath?: string;
  readonly hub?: HubOptions;
}

/** `lora-lens merge`: the adapter baked into the base's weights, written to a new model. */
export function runMerge(
  adapterPath: string,
  basePath: string,
  options: MergeCliOptions,
): Promise<MergeReport> {
  return mergeAdapter(
    {
      adapterPath,
      basePath,
      outPath: options.out,
      ...(options.mappingPath ? { mappingPath: options.mappingPath } : {}),
      ...(options.hub ? { hub: options.hub } : {}),
    },
    {
      ...(options.dtype ? { dtype: options.dtype } : {}),
      ...(options.maxShardBytes ? { maxShardBytes: options.maxShardBytes } : {}),
    },
  );
}

export function mergeText(r: MergeReport): string {
  const lines: string[] = [];
  const n = r.patched.length;
  lines.push(
    `merged ${formatInt(n)} module${n === 1 ? '' : 's'} into ${r.out} (${formatBytes(r.bytes)})`,
  );
  if (r.dtype) {
    lines.push(`  ${formatInt(r.tensors ?? 0)} tensors as safetensors, floats in ${r.dtype}`);
    for (const f of r.files.slice(1)) lines.push(`  with ${f}`);
  } else for (const f of r.files.slice(1)) lines.push(`  with external data ${f}`);
  if (n > 0) {
    lines.push('', r.dtype ? 'Patched weights:' : 'Patched initializers:');
    const width = Math.max(...r.patched.map((p) => p.initializer.length));
    for (const p of r.patched)
      lines.push(
        `  ${p.initializer.padEnd(width)}  ←  ${p.module}${p.transposed ? ' (stored transposed)' : ''}`,
      );
  }
  for (const note of r.notes ?? []) lines.push(`note: ${note}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
