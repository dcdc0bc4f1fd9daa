/**
 * `combine`: ΔW = Σ wᵢ·ΔWᵢ per module. `cat` is exact: the factors are stacked (B side by side,
 * wᵢ·sᵢ folded into A's rows, as PEFT's add_weighted_adapter does), so ranks add and the scale is 1.
 * `svd` re-factorises each sum to a rank (by default the largest input rank, PEFT's svd_rank
 * default) with the truncation error reported. A module missing from an adapter contributes 0.
 */
import type { Checkpoint } from '../formats/checkpoint.js';
import { openPath } from '../formats/index.js';
import { sourceFiles } from '../export/sourceFiles.js';
import type { LoraFamily } from '../lora/types.js';
import type { StoreDtype } from './castReport.js';
import { SurgeryError } from './errors.js';
import {
  analyseAdapter,
  assertLowRankable,
  readFactors,
  type AdapterFactors,
  type ModuleFactors,
} from './factors.js';
import { stack, type LowRank } from './lowRank.js';
import { lowRankSvd } from './lowRankSvd.js';
import { convention, crossConventionKey, sameConventionKey } from './moduleKeys.js';
import { scaleStyle, type ScaleStyle } from './outputNaming.js';
import { retainedEnergy, tailNorm } from './rankChoice.js';
import { sourceDtype } from './resize.js';
import {
  prepareModule,
  writeAdapter,
  type OutputModule,
  type PreparedModule,
} from './writeAdapter.js';

export interface CombineOptions {
  readonly weights: readonly number[];
  readonly method: 'cat' | 'svd';
  /** svd only: the output rank (default: the largest module rank of the inputs). */
  readonly rank?: number;
  readonly dtype?: StoreDtype;
}

export interface ModuleCombine {
  readonly name: string;
  readonly target: string;
  /** Input index → that adapter's rank for the module (absent: not in that adapter). */
  readonly inputs: readonly { readonly adapter: number; readonly rank: number }[];
  readonly rank: number;
  /** svd: ‖ΣwΔW − ΔW_k‖_F / ‖ΣwΔW‖_F; cat: 0 (exact). */
  readonly error: number;
  readonly retained: number;
  readonly castError: number;
  readonly bytes: number;
}

export interface CombineReport {
  readonly sources: readonly string[];
  readonly weights: readonly number[];
  readonly method: 'cat' | 'svd';
  readonly out: string;
  readonly weightsFile: string;
  readonly config?: string;
  readonly family: string;
  readonly dtype: StoreDtype;
  readonly scaleStyle: ScaleStyle;
  readonly matchedBy: 'target' | 'flattened name';
  readonly modules: readonly ModuleCombine[];
  readonly totals: {
    readonly modules: number;
    readonly rank: number;
    readonly worstError: number;
    readonly worstCastError: number;
    readonly fileBytes: number;
  };
  readonly notes: readonly string[];
}

function baseName(ckpt: Checkpoint): string | undefined {
  const c = ckpt.configs?.['adapter_config.json'];
  if (c && typeof c === 'object' && !Array.isArray(c)) {
    const b = (c as Record<string, unknown>)['base_model_name_or_path'];
    if (typeof b === 'string' && b.length > 0) return `base_model_name_or_path ${b}`;
  }
  const v = ckpt.metadata['ss_base_model_version'];
  return v ? `ss_base_model_version ${v}` : undefined;
}

function checkBases(inputs: readonly AdapterFactors[], paths: readonly string[]): void {
  const named = inputs.map((a, i) => ({ base: baseName(a.checkpoint), path: paths[i] as string }));
  const first = named.find((n) => n.base !== undefined);
  const other = named.find((n) => n.base !== undefined && first && n.base !== first.base);
  if (first && other)
    throw new SurgeryError(
      'BaseMismatch',
      `${first.path} was trained on ${first.base} but ${other.path} on ${other.base}; adapters of different bases do not add`,
      other.path,
    );
}

interface Slot {
  readonly key: string;
  readonly members: { readonly adapter: number; readonly m: ModuleFactors }[];
}

function groupModules(
  inputs: readonly AdapterFactors[],
  paths: readonly string[],
): { slots: Slot[]; cross: boolean } {
  const families = inputs.map((a) => a.analysis.family);
  const cross = new Set(families.map(convention)).size > 1;
  const slots = new Map<string, { adapter: number; m: ModuleFactors }[]>();
  inputs.forEach((a, i) => {
    const seen = new Map<string, string>();
    for (const m of a.modules) {
      const key = cross
        ? crossConventionKey(m.module, families[i] as LoraFamily)
        : sameConventionKey(m.module);
      const twin = seen.get(key);
      if (twin !== undefined)
        throw new SurgeryError(
          'AmbiguousModule',
          `${paths[i]}: ${twin} and ${m.module.name} would be the same module (${key}); they cannot be matched across adapters`,
          m.module.name,
        );
      seen.set(key, m.module.name);
      const list = slots.get(key) ?? [];
      list.push({ adapter: i, m });
      slots.set(key, list);
    }
  });
  return { slots: [...slots].map(([key, members]) => ({ key, members })), cross };
}

function checkSlot(
  slot: Slot,
  paths: readonly string[],
  family: LoraFamily,
  families: readonly LoraFamily[],
): void {
  const [head] = slot.members;
  if (!head) return;
  for (const { adapter, m } of slot.members) {
    if (m.factors.out !== head.m.factors.out || m.factors.inK !== head.m.factors.inK)
      throw new SurgeryError(
        'ShapeMismatch',
        `${m.module.name} is ${m.factors.out}×${m.factors.inK} in ${paths[adapter]} but ${head.m.factors.out}×${head.m.factors.inK} in ${paths[head.adapter]}`,
        m.module.name,
      );
    if (m.magnitude)
      throw new SurgeryError(
        'DoraNotCombinable',
        `${m.module.name} in ${paths[adapter]} is DoRA: its magnitude is a trained norm of W + ΔW, which does not add; resize it alone instead`,
        m.module.name,
      );
  }
  if (convention(families[head.adapter] as LoraFamily) !== convention(family))
    throw new SurgeryError(
      'AmbiguousModule',
      `${head.m.module.name} is only in ${paths[head.adapter]} (${families[head.adapter]} names) and cannot be named in the ${family} convention of the output without the base model; combine with the ${families[head.adapter]} adapter first, or map it to the base first`,
      head.m.module.name,
    );
}

export async function combineAdapters(
  paths: readonly string[],
  out: string,
  options: CombineOptions,
): Promise<CombineReport> {
  if (paths.length < 2)
    throw new SurgeryError(
      'InvalidWeights',
      `combine needs at least two adapters, got ${paths.length}`,
    );
  if (options.weights.length !== paths.length)
    throw new SurgeryError(
      'InvalidWeights',
      `${options.weights.length} weight(s) for ${paths.length} adapters; give one weight per adapter`,
      '--weights',
    );
  if (options.weights.some((w) => !Number.isFinite(w)))
    throw new SurgeryError(
      'InvalidWeights',
      `every weight must be a finite number, got ${options.weights.join(',')}`,
      '--weights',
    );
  if (options.rank !== undefined && (!Number.isInteger(options.rank) || options.rank < 1))
    throw new SurgeryError(
      'InvalidRank',
      `--rank must be a whole number ≥ 1, got ${options.rank}`,
      '--rank',
    );
  const protect = await sourceFiles(paths);
  const ckpts: Checkpoint[] = [];
  try {
    for (const p of paths) ckpts.push(await openPath(p));
    const inputs: AdapterFactors[] = [];
    for (let i = 0; i < ckpts.length; i++) {
      const c = ckpts[i] as Checkpoint;
      const analysis = await analyseAdapter(c);
      assertLowRankable(analysis, paths[i] as string);
      if (i === 0) scaleStyle(analysis, paths[0] as string);
      inputs.push(await readFactors(c, analysis, paths[i] as string));
    }
    checkBases(inputs, paths);
    const lead = inputs[0] as AdapterFactors;
    const family = lead.analysis.family;
    const style = scaleStyle(lead.analysis, paths[0] as string);
    const families = inputs.map((a) => a.analysis.family);
    const { slots, cross } = groupModules(inputs, paths);
    const maxRank = Math.max(...inputs.flatMap((a) => a.modules.map((m) => m.factors.rank)));
    const svdRank = options.rank ?? maxRank;
    const outputs: PreparedModule[] = [];
    const dtype =
      options.dtype ??
      sourceDtype(
        lead.checkpoint,
        lead.modules
          .map((m) => m.module.parts['down'] ?? m.module.tensors[0] ?? '')
          .filter(Boolean),
      );
    const partial: Omit<ModuleCombine, 'castError' | 'bytes'>[] = [];
    for (const slot of slots) {
      checkSlot(slot, paths, family, families);
      const head = (slot.members.find(
        (x) => convention(families[x.adapter] as LoraFamily) === convention(family),
      ) ?? slot.members[0]) as Slot['members'][number];
      const terms: LowRank[] = slot.members.map(({ adapter, m }) => ({
        ...m.factors,
        scale: m.factors.scale * (options.weights[adapter] as number),
      }));
      const sum = stack(terms);
      let factors = sum;
      let error = 0;
      let retained = 1;
      if (options.method === 'svd') {
        const svd = lowRankSvd(sum);
        const k = Math.min(svdRank, sum.rank);
        factors = svd.truncate(k);
        const total = tailNorm(svd.sigma, 0);
        error = total > 0 ? tailNorm(svd.sigma, k) / total : 0;
        retained = retainedEnergy(svd.sigma, k);
      }
      const output: OutputModule = {
        template: head.m.module,
        kernel: head.m.kernel,
        factors,
        converted: head.m.conversion !== undefined,
      };
      outputs.push(prepareModule(output, style, family, dtype));
      partial.push({
        name: head.m.module.name,
        target: head.m.module.target,
        inputs: slot.members.map(({ adapter, m }) => ({ adapter, rank: m.factors.rank })),
        rank: factors.rank,
        error,
        retained,
      });
    }
    const written = await writeAdapter({
      out,
      style,
      source: lead.checkpoint,
      modules: outputs,
      protect,
      notes: {
        'lora_lens.operation': `combine (${options.method})`,
        'lora_lens.sources': JSON.stringify(paths),
        'lora_lens.weights': JSON.stringify(options.weights),
      },
    });
    const modules: ModuleCombine[] = partial.map((p, i) => ({
      ...p,
      castError: written.modules[i]?.castError ?? 0,
      bytes: written.modules[i]?.bytes ?? 0,
    }));
    const notes: string[] = [];
    const partialSlots = modules.filter((m) => m.inputs.length < paths.length).length;
    if (partialSlots > 0)
      notes.push(
        `${partialSlots} module(s) are not in every adapter; the missing ones count as ΔW = 0`,
      );
    if (cross)
      notes.push(
        'the adapters use different naming conventions: modules were matched by their flattened names',
      );
    if (options.method === 'cat')
      notes.push('cat is exact: ranks add and every wᵢ·scaleᵢ is folded into A');
    return {
      sources: paths,
      weights: options.weights,
      method: options.method,
      out,
      weightsFile: written.weights,
      ...(written.config ? { config: written.config } : {}),
      family,
      dtype,
      scaleStyle: style,
      matchedBy: cross ? 'flattened name' : 'target',
      modules,
      totals: {
        modules: modules.length,
        rank: modules.reduce((n, m) => n + m.rank, 0),
        worstError: Math.max(0, ...modules.map((m) => m.error)),
        worstCastError: Math.max(0, ...modules.map((m) => m.castError)),
        fileBytes: written.bytes,
      },
      notes,
    };
  } finally {
    for (const c of ckpts) await c.close();
  }
}
