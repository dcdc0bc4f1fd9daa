/**
 * Which modules the smoke test runs, and how: for each mapped LoRA module, its tensors, the graph
 * variant, the scale, the base weight's true orientation and the roles on both sides. Header-only:
 * nothing here reads tensor data, so a plan for 224 Llama modules costs nothing. Modules that cannot
 * be tested (unmapped, LoHa/LoKr/IA3/OFT, weights of a dtype no reader decodes) come back as `skipped` results that say why.
 */
import type { Checkpoint, TensorInfo } from '../formats/checkpoint.js';
import type { LoraModule } from '../lora/types.js';
import { buildBaseIndex, type BaseIndex } from '../mapping/baseIndex.js';
import { moduleName } from '../mapping/candidates.js';
import type { MappedPair } from '../mapping/mappedPair.js';
import { canonicalName, modulePathOf } from '../mapping/normalize.js';
import { FUSED_PARENT } from '../mapping/synonyms.js';
import type { MappingEntry } from '../mapping/types.js';
import { floatReadable } from '../formats/quant/readFloat.js';
import type { SmokeModuleResult, SmokeRequest } from './types.js';
import { hasEffect, indexReadable } from '../lora/methods/effectInputs.js';
import { methodById } from '../lora/methods/registry.js';
import type { MethodId } from '../lora/methods/types.js';

/** The math of one module, before the stored orientation picks the graph variant. */
export type ModuleMath = 'linear' | 'dora-linear' | 'conv' | 'embedding';

/** How the base weight is laid out in its file, independently of what the mapping says. */
export interface TrueOrientation {
  /** true: [in, out]; false: [out, in]; null: the file does not say (the mapping decides). */
  readonly transposed: boolean | null;
  readonly why: string;
}

export interface ModulePlan {
  readonly module: LoraModule;
  readonly entry: MappingEntry;
  readonly math: ModuleMath;
  readonly down: TensorInfo;
  readonly up: TensorInfo;
  readonly magnitude: TensorInfo | null;
  readonly weight: TensorInfo;
  readonly scale: number;
  /** Set when the scale is a guess (the adapter does not say). */
  readonly scaleNote: string | null;
  readonly orientation: TrueOrientation;
  /** Roles (`@q`, `@v`, …) of the module and of its target, when the names say. */
  readonly roles: { readonly module: string | null; readonly target: string | null };
  /** Seed of this module's random batch: the request's seed mixed with the module's name. */
  readonly seed: number;
}

/** A module whose method has an effect of its own (methods/*.ts): checked by effectCheck.ts. */
export interface EffectPlan {
  readonly module: LoraModule;
  readonly entry: MappingEntry;
  readonly weight: TensorInfo;
  readonly scale: number;
  readonly scaleNote: string | null;
  readonly orientation: TrueOrientation;
  readonly roles: { readonly module: string | null; readonly target: string | null };
  readonly seed: number;
}

export type PlannedModule =
  | { readonly kind: 'test'; readonly plan: ModulePlan }
  | { readonly kind: 'effect'; readonly plan: EffectPlan }
  | { readonly kind: 'decided'; readonly result: SmokeModuleResult };

export interface SmokePlan {
  readonly planned: readonly PlannedModule[];
  /** Names in `req.modules` that are not modules of the adapter. */
  readonly unknownModules: readonly string[];
}

const KIND_NAMES: Readonly<Record<string, string>> = {
  adalora: 'AdaLoRA',
  loha: 'LoHa',
  lokr: 'LoKr',
  ia3: '(IA)³',
  oft: 'OFT',
  boft: 'BOFT',
  full: 'full-weight diff',
  norm: 'norm',
};

export function skippedResult(
  module: string,
  target: string | null,
  message: string,
): SmokeModuleResult {
  return {
    module,
    target,
    variant: null,
    ok: true,
    status: 'skipped',
    maxAbsErr: null,
    deltaRatio: null,
    ms: 0,
    checks: [{ name: 'load', ok: true, severity: 'info', message }],
  };
}

export function failedResult(
  module: string,
  target: string | null,
  name: 'load' | 'shape',
  message: string,
): SmokeModuleResult {
  return {
    module,
    target,
    variant: null,
    ok: false,
    status: 'fail',
    maxAbsErr: null,
    deltaRatio: null,
    ms: 0,
    checks: [{ name, ok: false, severity: 'error', message }],
  };
}

/** FNV-1a of a string, for per-module seeds that do not depend on which modules were picked. */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const GPT2_CONV1D_NOTE = 'a GPT-2 Conv1D weight, stored [in, out]';

/**
 * The base weight's orientation from its format: PyTorch-order formats (safetensors, torch, GGUF as our
 * reader gives it) store a Linear [out, in], except GPT-2 Conv1D; ONNX depends on the consumer node.
 */
export function trueOrientation(
  base: Checkpoint,
  weight: TensorInfo,
  index: BaseIndex,
): TrueOrientation {
  if (weight.shape.length !== 2) return { transposed: false, why: 'not a matrix' };
  if (base.format !== 'onnx') {
    return index.byName.get(weight.name)?.storedTransposed
      ? { transposed: true, why: GPT2_CONV1D_NOTE }
      : { transposed: false, why: `${base.format} stores a Linear weight [out, in]` };
  }
  const ops = new Set((weight.consumers ?? []).map((c) => c.op));
  if (ops.size === 0)
    return { transposed: null, why: `the ONNX file records no consumer node for ${weight.name}` };
  if (ops.has('MatMul')) return { transposed: true, why: 'a MatMul weight, stored [in, out]' };
  if (ops.has('Gather')) return { transposed: false, why: 'a Gather table, stored [rows, dim]' };
  if (ops.has('Gemm'))
    return { transposed: null, why: 'a Gemm input, whose transB the reader does not record' };
  return { transposed: null, why: `consumed by ${[...ops].join(', ')}` };
}

function roleOf(module: LoraModule, index: BaseIndex): string | null {
  return moduleName(module, index).canon.role;
}

function targetRole(target: string, index: BaseIndex): string | null {
  return index.byName.get(target)?.canon.role ?? canonicalName(modulePathOf(target)).role;
}

/** Do the names of module and target do the same job? null when one role is unknown. */
export function rolesAgree(moduleRole: string | null, target: string | null): boolean | null {
  if (moduleRole === null || target === null) return null;
  return moduleRole === target || FUSED_PARENT[moduleRole] === target;
}

function mathOf(m: LoraModule): ModuleMath | string {
  if (KIND_NAMES[m.kind]) return `${KIND_NAMES[m.kind]} modules are not smoke-tested yet`;
  if (m.parts.mid) return 'conv modules with a Tucker core (lora_mid) are not smoke-tested yet';
  if (!m.parts.down && Object.keys(m.parts).some((p) => p.startsWith('down.')))
    return 'split LoRA pairs (down.0, down.1, …) are not smoke-tested yet';
  if (m.kind === 'embedding') return 'embedding';
  if (m.kind === 'conv') {
    if (m.dora) return 'DoRA conv modules are not smoke-tested yet';
    return 'conv';
  }
  if (m.dora) {
    if (m.dora.axis !== 'out')
      return `DoRA with a per-input magnitude (${m.dora.tensor}) is not smoke-tested yet`;
    return 'dora-linear';
  }
  return 'linear';
}

function matches(m: LoraModule, wanted: ReadonlySet<string>): boolean {
  return wanted.has(m.name) || wanted.has(m.target);
}

export function planModules(pair: MappedPair, req: SmokeRequest): SmokePlan {
  const index = buildBaseIndex(pair.base);
  const baseTensors = new Map(pair.base.tensors.map((t) => [t.name, t]));
  const adapterTensors = new Map(pair.adapter.tensors.map((t) => [t.name, t]));
  const entries = new Map(pair.mapping.mappings.map((e) => [e.module, e]));
  const conflicts = new Map(pair.mapping.conflicts.map((c) => [c.module, c]));
  const wanted = req.modules ? new Set(req.modules) : null;
  const known = new Set(pair.analysis.modules.flatMap((m) => [m.name, m.target]));
  const unknownModules = (req.modules ?? []).filter((n) => !known.has(n));
  const planned: PlannedModule[] = [];

  for (const m of pair.analysis.modules) {
    if (wanted && !matches(m, wanted)) continue;
    const entry = entries.get(m.name);
    if (!entry) {
      const c = conflicts.get(m.name);
      planned.push({
        kind: 'decided',
        result: skippedResult(
          m.name,
          null,
          `not mapped to any base parameter${c ? ` (${c.reason})` : ''}`,
        ),
      });
      continue;
    }
    if (hasEffect(m)) {
      planned.push(effectPlanned(pair, m, entry, { baseTensors, adapterTensors }, index, req));
      continue;
    }
    const math = mathOf(m);
    if (math !== 'linear' && math !== 'dora-linear' && math !== 'conv' && math !== 'embedding') {
      planned.push({ kind: 'decided', result: skippedResult(m.name, entry.target, math) });
      continue;
    }
    const weight = baseTensors.get(entry.target);
    if (!weight) {
      planned.push({
        kind: 'decided',
        result: failedResult(
          m.name,
          entry.target,
          'load',
          `${entry.target} is not a tensor of the base`,
        ),
      });
      continue;
    }
    const downName = m.parts.down;
    const upName = m.parts.up;
    const down = downName ? adapterTensors.get(downName) : undefined;
    const up = upName ? adapterTensors.get(upName) : undefined;
    const magnitude = m.dora ? (adapterTensors.get(m.dora.tensor) ?? null) : null;
    if (!down || !up || (m.dora && !magnitude)) {
      const missing = !down ? 'down (lora_A)' : !up ? 'up (lora_B)' : 'DoRA magnitude';
      planned.push({
        kind: 'decided',
        result: failedResult(m.name, entry.target, 'load', `the module has no ${missing} tensor`),
      });
      continue;
    }
    const unreadable = [
      { cp: pair.base, t: weight },
      ...[down, up, ...(magnitude ? [magnitude] : [])].map((t) => ({ cp: pair.adapter, t })),
    ]
      .map(({ cp, t }) => floatReadable(cp, t))
      .find((r): r is string => r !== true);
    if (unreadable) {
      planned.push({
        kind: 'decided',
        result: skippedResult(m.name, entry.target, `${unreadable}: the smoke test cannot read it`),
      });
      continue;
    }
    const scale = m.scale ?? 1;
    planned.push({
      kind: 'test',
      plan: {
        module: m,
        entry,
        math,
        down,
        up,
        magnitude,
        weight,
        scale,
        scaleNote:
          m.scale === null ? `the adapter does not give a scale (${m.alphaOrigin}): using 1` : null,
        orientation: trueOrientation(pair.base, weight, index),
        roles: { module: roleOf(m, index), target: targetRole(entry.target, index) },
        seed: ((req.seed ?? 0) ^ hashName(m.name)) >>> 0,
      },
    });
  }
  return { planned, unknownModules };
}

/** The plan of a module with its own effect: the checks that need no data run here. */
function effectPlanned(
  pair: MappedPair,
  m: LoraModule,
  entry: MappingEntry,
  tensors: {
    readonly baseTensors: ReadonlyMap<string, TensorInfo>;
    readonly adapterTensors: ReadonlyMap<string, TensorInfo>;
  },
  index: BaseIndex,
  req: SmokeRequest,
): PlannedModule {
  const { baseTensors, adapterTensors } = tensors;
  const weight = baseTensors.get(entry.target);
  if (!weight)
    return {
      kind: 'decided',
      result: failedResult(
        m.name,
        entry.target,
        'load',
        `${entry.target} is not a tensor of the base`,
      ),
    };
  const indexParts = new Set(methodById(m.method?.id as MethodId).indexParts ?? []);
  const own = [
    ...Object.entries(m.parts),
    ...Object.entries(m.method?.shared ?? {}).map(([k, n]) => [`shared:${k}`, n] as const),
  ];
  const unreadable = [
    floatReadable(pair.base, weight),
    ...own.map(([part, n]) => {
      const t = adapterTensors.get(n);
      if (!t) return `${n} is missing from the adapter`;
      return indexParts.has(part) ? indexReadable(t) : floatReadable(pair.adapter, t);
    }),
  ].find((r): r is string => r !== true);
  if (unreadable)
    return {
      kind: 'decided',
      result: skippedResult(m.name, entry.target, `${unreadable}: the smoke test cannot read it`),
    };
  return {
    kind: 'effect',
    plan: {
      module: m,
      entry,
      weight,
      scale: m.scale ?? 1,
      scaleNote: null,
      orientation: trueOrientation(pair.base, weight, index),
      roles: { module: roleOf(m, index), target: targetRole(entry.target, index) },
      seed: ((req.seed ?? 0) ^ hashName(m.name)) >>> 0,
    },
  };
}
