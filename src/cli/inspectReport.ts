import { resolve } from 'node:path';
import type { Checkpoint, PlainValue, TensorInfo } from '../core/formats/checkpoint.js';
import type { LoraAnalysis } from '../core/lora/types.js';
import { quantizationSummary, type QuantSummary } from '../core/formats/quant/summary.js';
import { loraText } from './loraReport.js';
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
  tensors: InspectTensorJson[];
  /** Tensors that are not model weights (optimizer and scheduler state). */
  nonWeights: string[];
  /** Plain values stored beside the tensors (epoch, step, hyper-parameters), by dotted path. */
  values: Record<string, PlainValue>;
  /** Side files (config.json, adapter_config.json), parsed. */
  configs: Record<string, PlainValue>;
  warnings: string[];
  /** Quantized weights by scheme and what they save against 16 bits; null when nothing is quantized. */
  quantization: QuantSummary | null;
}

export interface InspectTensorJson {
  name: string;
  dtype: string;
  /** The checkpoint's own shape array (written out, never changed): no copy per tensor. */
  shape: readonly number[];
  /** Absolute byte offset of the data in `file` (or the opened file); null when not one contiguous range. */
  offset: number | null;
  bytes: number;
  file?: string;
  role?: string;
  consumers?: { op: string; node: string }[];
  /** A quantized weight: its scheme and its stored parts (the tensors the file really holds). */
  quant?: {
    scheme: string;
    label: string;
    bits: number;
    bitsPerWeight: number;
    layout: string;
    parts: Record<string, { name: string; dtype: string; shape: number[]; bytes: number }>;
  };
}

/** Copies into a plain object so keys such as "__proto__" stay data when serialised. */
function plainRecord<T>(source: Readonly<Record<string, T>> | undefined): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(source ?? {})) {
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function tensorJson(t: TensorInfo): InspectTensorJson {
  const out: InspectTensorJson = {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    offset: t.offset >= 0 ? t.offset : null,
    bytes: t.byteLength,
  };
  if (t.file !== undefined) out.file = t.file;
  if (t.role !== undefined && t.role !== 'weight') out.role = t.role;
  if (t.consumers !== undefined)
    out.consumers = t.consumers.map((c) => ({ op: c.op, node: c.node }));
  if (t.quant) {
    const q = t.quant;
    out.quant = {
      scheme: q.scheme,
      label: q.label,
      bits: q.bits,
      bitsPerWeight: q.bitsPerWeight,
      layout: q.layout,
      parts: Object.fromEntries(
        Object.entries(q.parts).map(([role, p]) => [
          role,
          { name: p.name, dtype: p.dtype, shape: [...p.shape], bytes: p.byteLength },
        ]),
      ),
    };
  }
  return out;
}

export function inspectJson(path: string, ckpt: Checkpoint): InspectJson {
  const dtypes: Record<string, number> = {};
  for (const d of ckpt.dtypes) dtypes[d.dtype] = d.tensors;
  return {
    format: ckpt.format,
    path: /^hf:/.test(path) ? path : resolve(path),
    fileSize: ckpt.fileSize,
    headerBytes: ckpt.headerByteLength,
    tensorCount: ckpt.tensors.length,
    parameterCount: ckpt.parameterCount,
    dtypes,
    metadata: plainRecord(ckpt.metadata),
    tensors: ckpt.tensors.map(tensorJson),
    nonWeights: ckpt.tensors
      .filter((t) => t.role !== undefined && t.role !== 'weight')
      .map((t) => t.name),
    values: plainRecord(ckpt.values),
    configs: plainRecord(ckpt.configs),
    warnings: [...(ckpt.warnings ?? [])],
    quantization: quantizationSummary(ckpt),
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
export function inspectText(
  path: string,
  ckpt: Checkpoint,
  limit: number,
  lora?: LoraAnalysis,
): string {
  const lines: string[] = [];
  lines.push(/^hf:/.test(path) ? path : resolve(path));
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
  for (const w of ckpt.warnings ?? []) lines.push(`  warning: ${w}`);
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
  const quant = quantizationSummary(ckpt);
  if (quant) {
    const pct = quant.bytesAt16Bit ? Math.round((100 * quant.savedBytes) / quant.bytesAt16Bit) : 0;
    lines.push(
      '',
      `quantized: ${formatInt(quant.quantizedWeights)} weights (${formatCount(quant.quantizedParameters)} params) in ${formatBytes(quant.storedBytes)}, ${formatBytes(quant.bytesAt16Bit)} at 16 bits (${pct}% saved)`,
    );
    lines.push(
      ...table(
        quant.schemes.map((q) => [
          `  ${q.label}`,
          `${formatInt(q.weights)} weights`,
          `${formatCount(q.parameters)} params`,
          formatBytes(q.storedBytes),
          `${q.bitsPerWeight.toFixed(2)} bits/weight`,
        ]),
        new Set([1, 2, 3, 4]),
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
  if (lora) lines.push(...loraText(lora));
  const values = Object.entries(ckpt.values ?? {});
  if (values.length) {
    lines.push('', `values (${values.length})`);
    lines.push(
      ...table(
        values.slice(0, limit).map(([k, v]) => {
          const text = typeof v === 'string' ? v : JSON.stringify(v);
          return [
            `  ${k}`,
            text.length > MAX_METADATA_VALUE ? `${text.slice(0, MAX_METADATA_VALUE)}…` : text,
          ];
        }),
        new Set(),
      ),
    );
  }
  const nonWeights = ckpt.tensors.filter((t) => t.role !== undefined && t.role !== 'weight');
  if (nonWeights.length) {
    const bytes = nonWeights.reduce((a, t) => a + t.byteLength, 0);
    lines.push(
      '',
      `not model weights: ${formatInt(nonWeights.length)} tensors (${formatBytes(bytes)}), e.g. ${nonWeights[0]?.name} (${nonWeights[0]?.role})`,
    );
  }
  if (ckpt.tensors.length) {
    const shown = ckpt.tensors.slice(0, limit);
    const withConsumers = ckpt.tensors.some((t) => t.consumers?.length);
    const withFiles = ckpt.tensors.some((t) => t.file !== undefined);
    const usedBy = (t: TensorInfo) => {
      const c = t.consumers ?? [];
      return c.length
        ? `${c[0]?.op} ${c[0]?.node}${c.length > 1 ? ` (+${c.length - 1})` : ''}`
        : '';
    };
    lines.push('', `tensors (${formatInt(ckpt.tensors.length)}, in file order)`);
    lines.push(
      ...table(
        [
          [
            '  name',
            'dtype',
            'shape',
            'params',
            'bytes',
            ...(withFiles ? ['file'] : []),
            ...(withConsumers ? ['used by'] : []),
          ],
          ...shown.map((t) => [
            `  ${t.name}`,
            t.dtype,
            formatShape(t.shape),
            formatInt(t.parameterCount),
            formatInt(t.byteLength),
            ...(withFiles ? [t.file ?? ''] : []),
            ...(withConsumers ? [usedBy(t)] : []),
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
