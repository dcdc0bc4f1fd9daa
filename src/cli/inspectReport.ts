import { resolve } from 'node:path';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { formatBytes, formatCount, formatInt, formatShape } from '../shared/format.js';

/** The `inspect --json` object: the CLI contract in docs/product.md. */
export interface InspectJson {
  format: string;
  path: string;
  fileSize: number;
  headerBytes: number;
  tensorCount: number;
  parameterCount: number;
  dtypes: Record<string, number>;
  metadata: Record<string, string>;
  tensors: { name: string; dtype: string; shape: number[]; offset: number; bytes: number }[];
}

export function inspectJson(path: string, ckpt: Checkpoint): InspectJson {
  const dtypes: Record<string, number> = {};
  for (const d of ckpt.dtypes) dtypes[d.dtype] = d.tensors;
  // A plain object is what JSON.stringify needs; keys such as "__proto__" stay data via defineProperty.
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(ckpt.metadata)) {
    Object.defineProperty(metadata, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    format: ckpt.format,
    path: resolve(path),
    fileSize: ckpt.fileSize,
    headerBytes: ckpt.headerByteLength,
    tensorCount: ckpt.tensors.length,
    parameterCount: ckpt.parameterCount,
    dtypes,
    metadata,
    tensors: ckpt.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: [...t.shape],
      offset: t.offset,
      bytes: t.byteLength,
    })),
  };
}

function table(rows: string[][], rightAligned: Set<number>): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const MAX_METADATA_VALUE = 100;

/** A summary a person reads in a terminal: figures first, then metadata, then the tensors. */
export function inspectText(path: string, ckpt: Checkpoint, limit: number): string {
  const lines: string[] = [];
  lines.push(`${resolve(path)}`);
  lines.push(
    ...table(
      [
        ['  format', ckpt.format],
        ['  file size', `${formatBytes(ckpt.fileSize)} (${formatInt(ckpt.fileSize)} bytes)`],
        ['  header', `${formatBytes(ckpt.headerByteLength)}`],
        ['  tensors', formatInt(ckpt.tensors.length)],
        ['  parameters', `${formatInt(ckpt.parameterCount)} (${formatCount(ckpt.parameterCount)})`],
      ],
      new Set(),
    ),
  );
  if (ckpt.dtypes.length) {
    lines.push('', 'dtypes');
    lines.push(
      ...table(
        ckpt.dtypes.map((d) => [
          `  ${d.dtype}`,
          `${formatInt(d.tensors)} tensors`,
          `${formatCount(d.parameters)} params`,
          formatBytes(d.bytes),
        ]),
        new Set([1, 2, 3]),
      ),
    );
  }
  const keys = Object.keys(ckpt.metadata).sort();
  if (keys.length) {
    lines.push('', `metadata (${keys.length})`);
    lines.push(
      ...table(
        keys.map((k) => {
          const v = (ckpt.metadata[k] as string).replace(/\s+/g, ' ');
          return [
            `  ${k}`,
            v.length > MAX_METADATA_VALUE
              ? `${v.slice(0, MAX_METADATA_VALUE)}… (${formatInt(v.length)} chars)`
              : v,
          ];
        }),
        new Set(),
      ),
    );
  }
  if (ckpt.tensors.length) {
    const shown = ckpt.tensors.slice(0, limit);
    lines.push('', `tensors (${formatInt(ckpt.tensors.length)}, in file order)`);
    lines.push(
      ...table(
        [
          ['  name', 'dtype', 'shape', 'params', 'bytes'],
          ...shown.map((t) => [
            `  ${t.name}`,
            t.dtype,
            formatShape(t.shape),
            formatInt(t.parameterCount),
            formatInt(t.byteLength),
          ]),
        ],
        new Set([3, 4]),
      ),
    );
    if (shown.length < ckpt.tensors.length) {
      lines.push(`  … ${formatInt(ckpt.tensors.length - shown.length)} more (use --all or --json)`);
    }
  }
  return lines.join('\n');
}
