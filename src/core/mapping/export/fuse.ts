/**
 * split → fused: q/k/v (gate/up, Flux q/k/v/mlp) LoRAs that patch row slices of one fused base
 * parameter become one LoRA on the whole parameter.
 *
 *   A = [c₁A₁; c₂A₂; …]  (ranks stack: R = Σ rᵢ)
 *   B = block-diagonal: the rows of member i hold Bᵢ in columns [Σ_{j<i} rⱼ, Σ_{j≤i} rⱼ), zeros elsewhere
 *
 * so B·A puts Bᵢ·(cᵢAᵢ) on member i's rows and nothing on a member no module adapts (its rows stay 0).
 * One module has one scale s, and every naming writes it as alpha = s·R (PEFT lora_alpha / alpha_pattern,
 * kohya `.alpha`), so s·B·A must equal Σ sᵢ·Bᵢ·Aᵢ on each member's rows: cᵢ = sᵢ / s. We take s as
 * the members' most common scale, so members at that scale are copied value for value and only the
 * others are multiplied (then written as F32, which holds the product of a half value without new
 * rounding). Grouped layouts (GPT-NeoX query_key_value) place member rows by the head permutation.
 */
import type { Checkpoint, TensorInfo } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../../lora/types.js';
import type { MappingEntry } from '../types.js';
import { logicalPair, outputDtype, type ComputedTensor, type Matrix } from './computedTensors.js';
import {
  plainModule,
  wholeEntry,
  type ConversionRecord,
  type ConvertedModule,
} from './conversion.js';
import {
  contiguousStarts,
  describeLayout,
  FUSED_PARTS,
  fusedKindOfPath,
  groupedLayout,
  memberRows,
  type FusedLayout,
} from './fusedLayout.js';

export interface FuseMember {
  readonly module: LoraModule;
  readonly entry: MappingEntry;
  /** The part name for the report (q, k, v, gate, up, mlp), when the name says it. */
  readonly part: string | null;
}

export interface FuseResult {
  readonly converted: ConvertedModule;
  readonly computed: readonly ComputedTensor[];
  readonly record: ConversionRecord;
}

function mostCommon(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0] ?? 1;
  for (const [v, n] of counts) if (n > (counts.get(best) ?? 0)) best = v;
  return best;
}

const baseConfig = (base: Checkpoint) => {
  const c = base.configs?.['config.json'];
  return c && typeof c === 'object' && !Array.isArray(c) ? c : null;
};

/**
 * Where each member's rows go: for contiguous layouts the matcher's slice; for grouped ones the
 * member whose contiguous range the slice names, then the head permutation.
 */
function placements(
  target: TensorInfo,
  path: string,
  rows: number,
  members: readonly FuseMember[],
  base: Checkpoint,
): { rowsOf: number[][]; layout: string } {
  const kind = fusedKindOfPath(path);
  if (!kind)
    throw new CheckpointError(
      'InvalidExport',
      `${members.length} module(s) patch row slices of ${target.name}, which is not a fused parameter whose row layout is known (qkv_proj, c_attn, query_key_value, qkv, gate_up_proj, linear1): ${members.map((m) => `${m.module.name} → [${m.entry.slice?.start}:${m.entry.slice?.end}]`).join(', ')}. Re-target or reject them, or apply the mapping with the Python snippet`,
      members[0]?.module.name,
    );
  const layout: FusedLayout | null = kind.grouped
    ? groupedLayout(target.name, rows, baseConfig(base), '--base')
    : null;
  if (!layout) {
    const rowsOf = members.map((m) => {
      const s = m.entry.slice as { start: number; end: number };
      return Array.from({ length: s.end - s.start }, (_, j) => s.start + j);
    });
    return { rowsOf, layout: `contiguous rows of ${rows}` };
  }
  const starts = contiguousStarts(layout);
  const perMember = memberRows(layout);
  const rowsOf = members.map((m) => {
    const s = m.entry.slice as { start: number; end: number };
    const p = starts.findIndex((st, i) => st === s.start && st + (layout.sizes[i] ?? 0) === s.end);
    if (p < 0)
      throw new CheckpointError(
        'InvalidExport',
        `${m.module.name} patches rows [${s.start}:${s.end}) of ${target.name}, which are no member of its layout (${describeLayout(layout)})`,
        m.module.name,
      );
    return perMember[p] as number[];
  });
  return { rowsOf, layout: describeLayout(layout) };
}

/** One fused module from the members patching slices of `target` (2-D, stored [out, in] or [in, out]). */
export function fuseMembers(
  adapter: Checkpoint,
  base: Checkpoint,
  target: TensorInfo,
  path: string,
  members: readonly FuseMember[],
): FuseResult {
  const first = members[0];
  if (!first) throw new CheckpointError('InternalError', 'no members to fuse');
  const transposed = first.entry.transposed;
  const axis = transposed ? 1 : 0;
  if (members.some((m) => m.entry.transposed !== transposed || m.entry.slice?.axis !== axis))
    throw new CheckpointError(
      'InvalidExport',
      `the modules patching ${target.name} disagree on its orientation; re-target them`,
      target.name,
    );
  const rows = target.shape[axis] ?? 0;
  const inFeatures = target.shape[1 - axis] ?? 0;
  const sorted = [...members].sort(
    (a, b) => (a.entry.slice?.start ?? 0) - (b.entry.slice?.start ?? 0),
  );
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as FuseMember;
    const cur = sorted[i] as FuseMember;
    if ((cur.entry.slice?.start ?? 0) < (prev.entry.slice?.end ?? 0))
      throw new CheckpointError(
        'InvalidExport',
        `${prev.module.name} and ${cur.module.name} patch overlapping rows of ${target.name}; one fused module cannot hold both`,
        cur.module.name,
      );
  }
  const { rowsOf, layout } = placements(target, path, rows, sorted, base);
  const scales = sorted.map((m) => m.module.scale ?? 1);
  const scale = mostCommon(scales);
  const ranks = sorted.map((m) => m.module.rank ?? 0);
  const rank = ranks.reduce((a, b) => a + b, 0);
  const offsets = ranks.map((_, i) => ranks.slice(0, i).reduce((a, b) => a + b, 0));
  const rescaled = sorted.filter((_, i) => scales[i] !== scale).map((m) => m.module.name);
  const sources = sorted.flatMap((m) => [
    adapter.tensor(m.module.parts.down ?? ''),
    adapter.tensor(m.module.parts.up ?? ''),
  ]);
  const dtype = outputDtype(sources, rescaled.length > 0);
  const downName = `lora_lens.fused.${path}.down`;
  const upName = `lora_lens.fused.${path}.up`;
  let pairs: Promise<{ a: Matrix; b: Matrix }[]> | null = null;
  const readPairs = () =>
    (pairs ??= Promise.all(sorted.map((m) => logicalPair(adapter, m.module))));
  const computed: ComputedTensor[] = [
    {
      name: downName,
      dtype,
      shape: [rank, inFeatures],
      compute: async () => {
        const values = new Float64Array(rank * inFeatures);
        (await readPairs()).forEach(({ a }, i) => {
          const c = (scales[i] as number) / scale;
          const at = (offsets[i] as number) * inFeatures;
          for (let k = 0; k < a.values.length; k++)
            values[at + k] = c === 1 ? (a.values[k] as number) : (a.values[k] as number) * c;
        });
        return { rows: rank, cols: inFeatures, values };
      },
    },
    {
      name: upName,
      dtype,
      shape: [rows, rank],
      compute: async () => {
        const values = new Float64Array(rows * rank);
        (await readPairs()).forEach(({ b }, i) => {
          const off = offsets[i] as number;
          const r = ranks[i] as number;
          (rowsOf[i] as number[]).forEach((row, j) => {
            for (let k = 0; k < r; k++)
              values[row * rank + off + k] = b.values[j * r + k] as number;
          });
        });
        pairs = null; // read once per tensor pair; free the members after B
        return { rows, cols: rank, values };
      },
    },
  ];
  const name = `${path} (fused)`;
  const parts = sorted.map((m) => m.part ?? `[${m.entry.slice?.start}:${m.entry.slice?.end}]`);
  const module = plainModule(
    name,
    path,
    downName,
    upName,
    { rank, inFeatures, outFeatures: rows, scale },
    `fused from ${parts.join(', ')}: A stacked, B block-diagonal, scale ${scale}`,
  );
  const entry = wholeEntry(
    name,
    target.name,
    transposed,
    `${sorted.map((m) => m.module.name).join(', ')} fused onto ${target.name}`,
  );
  const known = FUSED_PARTS[fusedKindOfPath(path)?.kind ?? 'qkv'];
  const missing = known.filter((p) => !parts.includes(p));
  return {
    converted: { module, entry },
    computed,
    record: {
      kind: 'fuse',
      fused: target.name,
      layout: missing.length ? `${layout}; ${missing.join(', ')} not adapted (zero rows)` : layout,
      members: sorted.map((m, i) => ({
        part: parts[i] as string,
        module: m.module.name,
        target: target.name,
        start: m.entry.slice?.start ?? 0,
        end: m.entry.slice?.end ?? 0,
        rank: ranks[i] as number,
      })),
      rank,
      scale,
      rescaled,
    },
  };
}
