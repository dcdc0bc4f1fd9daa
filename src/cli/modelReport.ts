/** The model section of `lora-lens inspect`: architecture, parts and memory, or an adapter's grid. */
import type { CheckpointInfo } from '../core/formats/checkpoint.js';
import type { LoraAnalysis } from '../core/lora/types.js';
import type { AdapterCoverage } from '../core/model/adapterCoverage.js';
import type { MemoryEstimate } from '../core/model/memory.js';
import { adapterTarget } from '../core/model/adapterTarget.js';
import { adapterModelReport, modelReport } from '../core/model/modelReport.js';
import type { PartBreakdown } from '../core/model/parts.js';
import type { ModelArchitecture, ModelDims } from '../core/model/types.js';
import { formatCount, formatInt } from '../shared/format.js';

/** The `inspect --json` fields; null where the file alone cannot say (an adapter without --base). */
export interface InspectModelJson {
  architecture: ModelArchitecture | null;
  parts: PartBreakdown | null;
  memory: MemoryEstimate | null;
  /** An adapter's layers × module types; null for a model. */
  coverage: AdapterCoverage | null;
}

export function inspectModel(
  ckpt: CheckpointInfo,
  lora: LoraAnalysis,
  base: CheckpointInfo | null,
  stats?: readonly { readonly module: string; readonly norm: number | null }[],
): InspectModelJson {
  if (lora.modules.length === 0) {
    const r = modelReport(ckpt);
    return { architecture: r.architecture, parts: r.parts, memory: r.memory, coverage: null };
  }
  const r = adapterModelReport(ckpt, lora, base, stats);
  return {
    // Without a base, what the adapter says of its base (kohya, ModelSpec, PEFT), family only.
    architecture: r.base?.architecture ?? adapterTarget(ckpt),
    parts: r.base?.parts ?? null,
    memory: r.base?.memory ?? null,
    coverage: r.coverage,
  };
}

const DIM_LABELS: readonly [keyof ModelDims, string][] = [
  ['hiddenSize', 'hidden size'],
  ['numLayers', 'layers'],
  ['numAttentionHeads', 'attention heads'],
  ['numKeyValueHeads', 'KV heads'],
  ['headDim', 'head dim'],
  ['intermediateSize', 'FFN size'],
  ['vocabSize', 'vocabulary'],
  ['numExperts', 'experts'],
  ['tiedEmbeddings', 'tied embeddings'],
];

function dimText(a: ModelArchitecture, k: keyof ModelDims): string {
  const v = a.dims[k];
  if (v === null) return `not determined (${a.undetermined[k] ?? 'no evidence'})`;
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : formatInt(v);
}

function architectureText(a: ModelArchitecture, title: string): string[] {
  const lines = [
    title,
    `  family            ${a.family}${a.variant ? ` (${a.variant})` : ''}, ${a.kind}`,
  ];
  const reasons = new Set(DIM_LABELS.map(([k]) => (a.dims[k] === null ? a.undetermined[k] : '')));
  const only = reasons.size === 1 ? [...reasons][0] : undefined;
  if (only) lines.push(`  ${'dimensions'.padEnd(18)}not determined (${only})`);
  else for (const [k, label] of DIM_LABELS) lines.push(`  ${label.padEnd(18)}${dimText(a, k)}`);
  for (const e of a.evidence) lines.push(`  · ${e.claim} [${e.source}]`);
  if (a.components.length > 1) {
    lines.push('  parts:');
    for (const c of a.components)
      lines.push(
        `    ${(c.prefix || '(root)').padEnd(36)} ${c.family}${c.variant ? ` (${c.variant})` : ''}, ${formatCount(c.parameterCount)} params`,
      );
  }
  return lines;
}

function partsText(p: PartBreakdown): string[] {
  const lines = ['parameters by part'];
  for (const x of p.parts)
    if (x.parameters > 0)
      lines.push(
        `  ${x.part.padEnd(11)} ${formatInt(x.parameters).padStart(16)}  ${((100 * x.parameters) / Math.max(1, p.parameters)).toFixed(1).padStart(5)}%`,
      );
  return lines;
}

function memoryText(m: MemoryEstimate): string[] {
  const lines = ['memory (estimates; activations excluded)'];
  for (const f of m.figures)
    lines.push(
      f.bytes === null
        ? `  ${f.label}: not determined (${f.reason ?? ''})`
        : `  ${f.label}: ${f.formula}${f.note ? ` (${f.note})` : ''}`,
    );
  return lines;
}

const GRID_ROWS = 64;

function coverageText(c: AdapterCoverage): string[] {
  const pct = c.percentOfBase === null ? '' : ` (${c.percentOfBase.toFixed(3)}% of the base)`;
  const lines = [
    `adapter coverage: ${formatInt(c.modules)} modules, ${formatInt(c.trainableParameters)}${c.trainableExact ? '' : ' (about)'} trainable parameters${pct}`,
  ];
  const width = Math.min(48, Math.max(5, ...c.rows.slice(0, GRID_ROWS).map((r) => r.label.length)));
  const cols = c.columns;
  lines.push(
    `  ${'rank'.padEnd(width)}  ${cols.map((k) => k.padStart(Math.max(3, k.length))).join(' ')}`,
  );
  for (const r of c.rows.slice(0, GRID_ROWS))
    lines.push(
      `  ${r.label.slice(-width).padEnd(width)}  ${cols
        .map((k) => {
          const cell = r.cells[k];
          const text = cell ? (cell.rank === null ? '?' : String(cell.rank)) : '·';
          return text.padStart(Math.max(3, k.length));
        })
        .join(' ')}`,
    );
  if (c.rows.length > GRID_ROWS)
    lines.push(`  … ${formatInt(c.rows.length - GRID_ROWS)} more rows (use --json)`);
  return lines;
}

export function modelText(m: InspectModelJson): string {
  const lines: string[] = [];
  if (m.coverage) lines.push(...coverageText(m.coverage), '');
  if (m.architecture)
    lines.push(...architectureText(m.architecture, m.coverage ? 'base model' : 'model'), '');
  if (m.coverage && !m.parts)
    lines.push(
      m.architecture
        ? "pass --base <path> for the base model's dimensions and memory"
        : 'base model: pass --base <path> for its architecture and memory',
      '',
    );
  if (m.parts) lines.push(...partsText(m.parts), '');
  if (m.memory) lines.push(...memoryText(m.memory));
  return lines.join('\n').trimEnd();
}
