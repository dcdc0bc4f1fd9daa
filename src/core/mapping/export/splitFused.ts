/**
 * fused → split: a LoRA on a fused projection (Phi-3 `qkv_proj` / `gate_up_proj`, GPT-2 `c_attn`, BFL
 * Flux `qkv` / `linear1`, GPT-NeoX `query_key_value`) written onto a base that keeps the members apart
 * (Llama q/k/v_proj, gate/up_proj; diffusers Flux to_q/to_k/to_v/proj_mlp). Member p gets the rows of
 * B that produce its outputs and the shared A, with the module's rank and scale: s·B_p·A is exactly
 * the fused ΔW's rows of p. The member sizes come from the base's own shapes; a grouped layout also
 * needs the head counts from the base's config.json.
 */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../../lora/types.js';
import type { BaseIndex, BaseParam } from '../baseIndex.js';
import type { CanonicalName } from '../normalize.js';
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
  totalRows,
  type FusedLayout,
} from './fusedLayout.js';

export interface SplitResult {
  readonly converted: readonly ConvertedModule[];
  readonly computed: readonly ComputedTensor[];
  readonly record: ConversionRecord;
}

const ROLE_OF_PART: Readonly<Record<string, string>> = {
  q: '@q',
  k: '@k',
  v: '@v',
  gate: '@gate',
  up: '@up',
};

/** The base parameter that holds `part` of the fused module `canon`, or null; refused when several do. */
function memberParam(index: BaseIndex, canon: CanonicalName, part: string): BaseParam | null {
  const found = new Set<BaseParam>(index.byKey.get(`${canon.key}#${part}`) ?? []);
  const role = ROLE_OF_PART[part];
  if (role && canon.role) {
    const key = [...canon.key.split('.').slice(0, -1), role].join('.');
    for (const p of index.byKey.get(key) ?? []) found.add(p);
  }
  const list = [...found];
  if (list.length > 1)
    throw new CheckpointError(
      'InvalidExport',
      `the ${part} part of ${canon.path} matches ${list.map((p) => p.name).join(' and ')} in the base; re-target it`,
      canon.path,
    );
  return list[0] ?? null;
}

/** The base's split members of a fused module, or null when the base has none of them. */
export function findSplitMembers(
  index: BaseIndex,
  canon: CanonicalName,
): { parts: readonly string[]; params: readonly (BaseParam | null)[] } | null {
  const kind = fusedKindOfPath(canon.path);
  if (!kind) return null;
  const parts = FUSED_PARTS[kind.kind];
  const params = parts.map((p) => memberParam(index, canon, p));
  return params.some((p) => p !== null) ? { parts, params } : null;
}

const baseConfig = (base: Checkpoint) => {
  const c = base.configs?.['config.json'];
  return c && typeof c === 'object' && !Array.isArray(c) ? c : null;
};

/** Out × in of a base parameter as B·A sees it. */
function outIn(p: BaseParam): [number, number] {
  const [a = 0, b = 0] = p.shape;
  return p.storedTransposed ? [b, a] : [a, b];
}

export function splitModule(
  adapter: Checkpoint,
  base: Checkpoint,
  m: LoraModule,
  canon: CanonicalName,
  found: { parts: readonly string[]; params: readonly (BaseParam | null)[] },
): SplitResult {
  const kind = fusedKindOfPath(canon.path);
  const out = m.outFeatures ?? 0;
  const inF = m.inFeatures ?? 0;
  const absent = found.parts.filter((_, i) => !found.params[i]);
  if (absent.length || !kind)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name} is fused (${found.parts.join(', ')}), but the base has no ${absent.join(', ')} beside ${found.params
        .filter((p): p is BaseParam => p !== null)
        .map((p) => p.name)
        .join(', ')}: those rows of B would have nowhere to go`,
      m.name,
    );
  const params = found.params as readonly BaseParam[];
  const dims = params.map(outIn);
  const wrongIn = params.filter((_, i) => dims[i]?.[1] !== inF);
  if (wrongIn.length)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name} reads ${inF} input features, but ${wrongIn.map((p) => `${p.name} reads ${outIn(p)[1]}`).join(', ')}: the hidden sizes differ, so no split is exact`,
      m.name,
    );
  const sizes = dims.map((d) => d[0]);
  let layout: FusedLayout = { kind: kind.kind, sizes, grouped: null };
  if (totalRows(layout) !== out)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name} has ${out} output rows, but the base's ${found.parts.map((p, i) => `${p} ${sizes[i]}`).join(' + ')} = ${totalRows(layout)}: the projection sizes differ (heads or head_dim), so no split is exact`,
      m.name,
    );
  if (kind.grouped) {
    const g = groupedLayout(m.name, out, baseConfig(base), '--base');
    if (g && g.sizes.some((n, i) => n !== sizes[i]))
      throw new CheckpointError(
        'InvalidExport',
        `${m.name}: the base config's heads give ${describeLayout(g)}, its shapes ${describeLayout(layout)}`,
        m.name,
      );
    if (g) layout = g;
  }
  const rowsOf = memberRows(layout);
  const starts = contiguousStarts(layout);
  const up = adapter.tensor(m.parts.up ?? '');
  const down = adapter.tensor(m.parts.down ?? '');
  const dtype = outputDtype([up], false);
  const rank = m.rank ?? 0;
  const scale = m.scale ?? 1;
  // A is shared: the source tensor itself, unless the file stores it transposed (MLX).
  const shareA = m.orientation === 'standard';
  const downName = shareA ? down.name : `lora_lens.split.${m.name}.down`;
  let pair: Promise<{ a: Matrix; b: Matrix }> | null = null;
  const readPair = () => (pair ??= logicalPair(adapter, m));
  const computed: ComputedTensor[] = shareA
    ? []
    : [
        {
          name: downName,
          dtype: outputDtype([down], false),
          shape: [rank, inF],
          compute: async () => (await readPair()).a,
        },
      ];
  const converted: ConvertedModule[] = params.map((p, i) => {
    const part = found.parts[i] as string;
    const rows = rowsOf[i] as number[];
    const upName = `lora_lens.split.${m.name}.${part}.up`;
    computed.push({
      name: upName,
      dtype,
      shape: [rows.length, rank],
      compute: async () => {
        const { b } = await readPair();
        const values = new Float64Array(rows.length * rank);
        rows.forEach((row, j) =>
          values.set(b.values.subarray(row * rank, (row + 1) * rank), j * rank),
        );
        return { rows: rows.length, cols: rank, values };
      },
    });
    const name = `${m.name} [${part}]`;
    return {
      module: plainModule(
        name,
        p.path,
        downName,
        upName,
        { rank, inFeatures: inF, outFeatures: rows.length, scale },
        `rows of ${part} in ${m.name}; A shared; scale ${scale}`,
      ),
      entry: wholeEntry(name, p.name, p.storedTransposed, `${part} rows of ${m.name}`),
    };
  });
  return {
    converted,
    computed,
    record: {
      kind: 'split',
      fused: m.name,
      layout: describeLayout(layout),
      members: converted.map((c, i) => ({
        part: found.parts[i] as string,
        module: c.module.name,
        target: c.entry.target,
        start: starts[i] as number,
        end: (starts[i] as number) + (sizes[i] as number),
        rank,
      })),
      rank,
      scale,
      rescaled: [],
    },
  };
}
