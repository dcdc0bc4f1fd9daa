import type { CheckpointInfo, TensorInfo } from '../formats/checkpoint.js';
import { plural } from './checkpointFacts.js';
import {
  detectFamily,
  unsupportedMethod,
  type DetectedModule,
  type FamilyDecision,
} from './familyDetection.js';
import { algorithmOf, groupTensors, missingParts, type RawModule } from './moduleGrouping.js';
import { peftConfigObject } from './peftConfig.js';
import { methodById } from './methods/registry.js';
import type { DescribeContext, MethodFacts } from './methods/types.js';
import { cachedClassifier, classifyMetadata, classifyValues } from './nonLora.js';
import { readScaleInputs } from './scaleInputs.js';
import { resolveScale, type AlphaReadings } from './scaleResolution.js';
import { summarize, summaryWarnings } from './summary.js';
import { layerOf, targetOf, type ModuleTarget } from './targets.js';
import type { AnalyzeOptions, LoraAnalysis, LoraModule, NonLoraEntry } from './types.js';

/** Everything the header says before any `.alpha` value is read. */
interface Plan {
  readonly info: CheckpointInfo;
  readonly family: FamilyDecision;
  readonly modules: readonly PlannedModule[];
  readonly orphans: readonly RawModule[];
  readonly loose: readonly TensorInfo[];
  /** Tensors by name; empty when the file has no adapter module (nothing looks a name up then). */
  readonly byName: ReadonlyMap<string, TensorInfo>;
}

interface PlannedModule {
  readonly raw: RawModule;
  readonly shapes: MethodFacts;
  readonly target: ModuleTarget;
  readonly method: { readonly id: string; readonly label: string };
}

const NO_READINGS: AlphaReadings = { values: new Map(), errors: new Map() };

/**
 * Analyses a checkpoint as a LoRA adapter from its header: family, modules with rank/alpha/scale,
 * everything else classified. `readScalar` lets per-module `.alpha` scalars be read (nothing else is).
 */
export async function analyzeLora(
  info: CheckpointInfo,
  options: AnalyzeOptions = {},
): Promise<LoraAnalysis> {
  const plan = planAnalysis(info);
  const readings = options.readScalar ? await readAlphas(plan, options.readScalar) : NO_READINGS;
  return finishAnalysis(plan, readings);
}

/** The same analysis without reading anything: alphas stored as tensors stay "present, not read". */
export function analyzeLoraSync(info: CheckpointInfo): LoraAnalysis {
  return finishAnalysis(planAnalysis(info), NO_READINGS);
}

function planAnalysis(info: CheckpointInfo): Plan {
  const { modules: raws, loose } = groupTensors(info.tensors);
  const complete: DetectedModule[] = [];
  const orphans: RawModule[] = [];
  for (const raw of raws) {
    const algorithm = algorithmOf(raw);
    if (algorithm) complete.push({ raw, algorithm });
    else orphans.push(raw);
  }
  const family = detectFamily(complete, orphans, info);
  // Only modules look tensors up by name; a model's 20,000+ tensors need no map.
  const byName: ReadonlyMap<string, TensorInfo> = complete.length
    ? new Map(info.tensors.map((t) => [t.name, t]))
    : new Map();
  const ctx: DescribeContext = {
    family: family.family,
    tensors: byName,
    config: peftConfigObject(info) ?? null,
  };
  const modules = complete.map(({ raw, algorithm }) => {
    const method = methodById(algorithm);
    return {
      raw,
      shapes: method.describe(raw, ctx),
      target: targetOf(raw.name, family.family),
      method: { id: method.id, label: method.label },
    };
  });
  // Global tensors a method's modules share (VeRA's vera_A) belong to the adapter, not to "loose".
  const shared = new Set(modules.flatMap((m) => Object.values(m.shapes.shared ?? {})));
  const kept = shared.size ? loose.filter((t) => !shared.has(t.name)) : loose;
  return { info, family, modules, orphans, loose: kept, byName };
}

async function readAlphas(
  plan: Plan,
  readScalar: (name: string) => Promise<number>,
): Promise<AlphaReadings> {
  const values = new Map<string, number>();
  const errors = new Map<string, string>();
  for (const m of plan.modules) {
    const t = m.raw.parts.get('alpha');
    if (!t) continue;
    if (t.parameterCount > 1) {
      errors.set(t.name, `not a scalar (shape [${t.shape.join(', ')}])`);
      continue;
    }
    try {
      const v = await readScalar(t.name);
      if (Number.isFinite(v)) values.set(t.name, v);
      else errors.set(t.name, `not a finite number (${v})`);
    } catch (e) {
      errors.set(t.name, e instanceof Error ? e.message : String(e));
    }
  }
  return { values, errors };
}

// Parts in reading order; the rest follow by name.
const PART_ORDER = [
  'down',
  'up',
  'mid',
  'up_bias',
  'lora_E',
  'ranknum',
  'alpha',
  'magnitude',
  'dora_scale',
];

function orderedParts(raw: RawModule): [string, string][] {
  const rank = (p: string): number => {
    const i = PART_ORDER.indexOf(p);
    return i < 0 ? PART_ORDER.length : i;
  };
  return [...raw.parts]
    .map(([p, t]): [string, string] => [p, t.name])
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

function finishAnalysis(plan: Plan, readings: AlphaReadings): LoraAnalysis {
  const { info, family } = plan;
  const inputs = readScaleInputs(info);
  const badPatterns = new Set<string>();
  const problems: string[] = [];
  const conflicts: string[] = [];
  let unread = 0;

  const claimedShared = new Set<string>();
  const modules: LoraModule[] = plan.modules.map(({ raw, shapes, target, method }) => {
    const alphaTensor = raw.parts.get('alpha')?.name;
    const resolved = resolveScale(
      {
        ...target,
        kind: shapes.kind,
        rank: shapes.rank,
        ...(shapes.kernel ? { kernel: shapes.kernel } : {}),
        ...(alphaTensor ? { alphaTensor } : {}),
      },
      family.family,
      inputs,
      readings,
      (p) => badPatterns.add(p),
    );
    const scale = shapes.scale === undefined ? resolved : methodScale(shapes.scale);
    for (const p of [...shapes.problems, ...scale.problems]) problems.push(`${raw.name}: ${p}`);
    if (scale.conflict) conflicts.push(`${raw.name}: ${scale.conflict}`);
    const stoodIn =
      scale.alphaOrigin === 'tensor-unread' || scale.alphaOrigin === 'ss_network_alpha';
    if (stoodIn && scale.alphaSources.some((s) => s.origin === 'tensor-unread')) unread++;
    const parts = orderedParts(raw);
    const layer = layerOf(target.target);
    // A shared tensor is listed (and counted) once, under the first module that uses it.
    const sharedNames = Object.values(shapes.shared ?? {}).filter((n) => !claimedShared.has(n));
    for (const n of sharedNames) claimedShared.add(n);
    return {
      name: raw.name,
      target: target.target,
      ...(target.group !== undefined ? { group: target.group } : {}),
      ...(raw.adapter ? { adapter: raw.adapter } : {}),
      kind: shapes.kind,
      label: shapes.label,
      rank: shapes.rank,
      alpha: scale.alpha,
      scale: scale.scale,
      scaleRule: scale.scaleRule,
      alphaOrigin: scale.alphaOrigin,
      alphaSources: scale.alphaSources,
      tensors: [...parts.map(([, n]) => n), ...sharedNames],
      parts: Object.fromEntries(parts),
      orientation: shapes.orientation,
      inFeatures: shapes.inFeatures,
      outFeatures: shapes.outFeatures,
      ...(shapes.kernel ? { kernel: shapes.kernel } : {}),
      ...(shapes.dora ? { dora: shapes.dora } : {}),
      ...(layer ? { layer } : {}),
      method: {
        ...method,
        ...(shapes.settings ? { settings: shapes.settings } : {}),
        ...(shapes.shared ? { shared: shapes.shared } : {}),
      },
    };
  });

  const nonLora = nonLoraEntries(plan, inputs.peft?.modulesToSave ?? []);
  const tensorsByName = plan.byName;
  const rankPatternUsed =
    (inputs.peft?.rankPattern.length ?? 0) > 0 ||
    [...inputs.diffusers.values()].some((c) => c.rankPattern.length > 0);

  const warnings: string[] = [];
  if (family.family === 'unknown')
    warnings.push(`unknown family: ${family.evidence[0] ?? 'no family explains the key layout'}`);
  if (conflicts.length)
    warnings.push(
      `conflicting alpha sources in ${plural(conflicts.length, 'module')}: ${examples(conflicts)}`,
    );
  if (unread) {
    const noScale = modules.some((m) => m.alphaOrigin === 'tensor-unread');
    const verb = unread === 1 ? (noScale ? 'has' : 'uses') : noScale ? 'have' : 'use';
    warnings.push(
      `alpha tensor present, value not read: ${plural(unread, 'module')} ${verb} ${noScale ? 'no known scale' : 'the metadata alpha instead'}`,
    );
  }
  const orphanEntries = plan.orphans.filter(() => family.family !== 'none');
  if (orphanEntries.length)
    warnings.push(
      `orphan tensors in ${plural(orphanEntries.length, 'module')}: ${examples(orphanEntries.map((o) => `${o.name} (${missingParts(o)})`))}`,
    );
  if (problems.length)
    warnings.push(
      `shape inconsistencies in ${plural(problems.length, 'place')}: ${examples(problems)}`,
    );
  if (badPatterns.size)
    warnings.push(
      `rank/alpha patterns that are not valid regular expressions here: ${[...badPatterns].join(', ')}`,
    );
  warnings.push(...summaryWarnings(modules, tensorsByName, rankPatternUsed));
  const unrecognized = nonLora.filter((e) => e.category === 'unrecognized');
  if (unrecognized.length && family.family !== 'none')
    warnings.push(
      `unrecognized tensors: ${plural(unrecognized.length, 'tensor')}, e.g. ${unrecognized[0]?.name ?? ''}`,
    );

  const unsupported = unsupportedMethod(info);
  if (unsupported) warnings.push(`unsupported adapter method: ${unsupported}`);

  const stored = quantizedFactors(modules, tensorsByName);
  if (stored) warnings.push(stored);

  const summary = summarize(modules, tensorsByName);
  return {
    family: family.family,
    familyLabel: family.label,
    evidence: family.evidence,
    groups: summary.groups.map((g) => ({ name: g.value, modules: g.count })),
    scaleSources: inputs.sources,
    modules,
    nonLora,
    warnings,
    summary,
  };
}

/** A method that defines its own scale (or none): no alpha sources to weigh. */
function methodScale(s: NonNullable<MethodFacts['scale']> | null): ReturnType<typeof resolveScale> {
  return {
    alpha: null,
    scale: s?.value ?? null,
    scaleRule: s?.rule ?? 'none',
    alphaOrigin: 'not-applicable',
    alphaSources: [],
    problems: [],
  };
}

function nonLoraEntries(plan: Plan, modulesToSave: readonly string[]): NonLoraEntry[] {
  const ctx = { family: plan.family.family, modulesToSave };
  const classify = cachedClassifier(ctx);
  // A file with no adapter is a model: its weights are one entry (counted here, never built one by
  // one), training state stays itemised.
  const fold = plan.family.family === 'none';
  let weights = 0;
  const out: NonLoraEntry[] = [];
  const add = (t: TensorInfo): void => {
    const v = classify(t);
    if (fold && MODEL_WEIGHTS.has(v.category)) weights++;
    else out.push({ name: t.name, reason: v.reason, category: v.category, source: 'tensor' });
  };
  for (const o of plan.orphans) {
    const why = missingParts(o);
    for (const t of o.parts.values()) {
      // In a file with no adapter at all, a stray `x.alpha` is an ordinary parameter.
      if (fold) add(t);
      else
        out.push({ name: t.name, reason: `orphan: ${why}`, category: 'orphan', source: 'tensor' });
    }
  }
  for (let i = 0; i < plan.loose.length; i++) add(plan.loose[i] as TensorInfo);
  // Keep file order for tensors. Loose tensors already are in file order; only orphans come first.
  if (plan.orphans.length) {
    const order = new Map(plan.info.tensors.map((t, i) => [t.name, i]));
    out.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
  }
  if (weights)
    out.unshift({
      name: '*',
      reason: 'model weights: this file holds no adapter',
      category: 'full-weight',
      source: 'tensor',
      count: weights,
    });
  out.push(...classifyValues(plan.info.values), ...classifyMetadata(plan.info.metadata));
  return out;
}

const MODEL_WEIGHTS: ReadonlySet<NonLoraEntry['category']> = new Set([
  'full-weight',
  'embedding',
  'norm',
  'base-weight',
  'modules-to-save',
]);

function examples(items: readonly string[], n = 3): string {
  const shown = items.slice(0, n).join('; ');
  return items.length > n ? `${shown}; … and ${items.length - n} more` : shown;
}

/**
 * FP8 or quantized LoRA factors (FP8 LoRA files exist): they are read and widened to float for the
 * smoke test, the merge and the statistics, so the user should know their values are not 16-bit.
 */
function quantizedFactors(
  modules: readonly LoraModule[],
  tensors: ReadonlyMap<string, TensorInfo>,
): string | null {
  const kinds = new Map<string, number>();
  const mods = new Set<string>();
  for (const m of modules)
    for (const name of Object.values(m.parts)) {
      const t = tensors.get(name);
      if (!t) continue;
      const label = t.quant?.label ?? (t.dtype.startsWith('F8_') ? t.dtype : null);
      if (!label) continue;
      kinds.set(label, (kinds.get(label) ?? 0) + 1);
      mods.add(m.name);
    }
  if (mods.size === 0) return null;
  const what = [...kinds.entries()].map(([k, n]) => `${plural(n, 'tensor')} ${k}`).join(', ');
  return `quantized adapter: ${plural(mods.size, 'module')} store their factors as ${what}; they are read dequantized to float (smoke test, merge and statistics use those values)`;
}
