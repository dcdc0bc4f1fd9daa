/**
 * Helpers the shared-tensor methods (VeRA, VB-LoRA, RandLoRA, TinyLoRA, AdaLoRA) use to read their
 * adapter_config.json fields and find the global tensors PEFT saves under `base_model.`.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { PlainObject } from '../checkpointFacts.js';
import type { LoraModule } from '../types.js';
import type { DescribeContext } from './types.js';

/** A config number: PEFT's default when absent, null (and a problem) when present but unusable. */
export function numberSetting(
  cfg: PlainObject | null,
  key: string,
  fallback: number,
  problems: string[],
  integer = false,
): number | null {
  const v = cfg?.[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v))) {
    problems.push(`${key} ${JSON.stringify(v)} is not ${integer ? 'an integer' : 'a number'}`);
    return null;
  }
  return v;
}

/** A config boolean: PEFT's default when absent, null (and a problem) when not a boolean. */
export function boolSetting(
  cfg: PlainObject | null,
  key: string,
  fallback: boolean,
  problems: string[],
): boolean | null {
  const v = cfg?.[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') {
    problems.push(`${key} ${JSON.stringify(v)} is not true or false`);
    return null;
  }
  return v;
}

/**
 * The global tensor PEFT saves once for all modules (`base_model.vera_A`), or the in-memory name with
 * the adapter (`base_model.vera_A.default`); undefined when the file has neither.
 */
export function globalTensor(
  ctx: DescribeContext,
  name: string,
  adapter: string | undefined,
): string | undefined {
  const names = [`base_model.${name}`, `base_model.${name}.${adapter ?? 'default'}`];
  return names.find((n) => ctx.tensors.has(n));
}

/** The sentence for projections PEFT regenerates from a seed and LoRA Lens does not. */
export function projectionsMissing(
  what: string,
  seedKey: string,
  seed: number | null,
  saveProjection: boolean | null,
): string {
  const why =
    saveProjection === false
      ? 'save_projection = false, so the file has none'
      : 'they are not in the file';
  return `${what}: ${why}; PEFT regenerates them from ${seedKey} = ${seed ?? '?'} with torch's random generator, which LoRA Lens does not reproduce (save the adapter with save_projection = true)`;
}

/** The missing-projection refusal of an effect, with the seed and save_projection read back from settings. */
export function projectionsMissingError(
  m: LoraModule,
  what: string,
  seedKey: string,
): CheckpointError {
  const s = m.method?.settings;
  const seed = s?.[seedKey];
  const save = s?.['save_projection'];
  return invalid(
    m,
    projectionsMissing(
      what,
      seedKey,
      typeof seed === 'number' ? seed : null,
      typeof save === 'boolean' ? save : null,
    ),
  );
}

/** A setting read back in an effect: a number, or a named error. */
export function numberFrom(m: LoraModule, key: string): number {
  const v = m.method?.settings?.[key];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new CheckpointError(
      'InvalidExport',
      `${m.name}: ${m.method?.label ?? 'the method'} needs ${key}, and the adapter's config gives none usable`,
      m.name,
    );
  return v;
}

/** The module's tensor of a part, or a named error. */
export function partName(m: LoraModule, part: string): string {
  const n = m.parts[part];
  if (!n) throw new CheckpointError('InvalidExport', `${m.name}: no ${part} tensor`, m.name);
  return n;
}

/** The module's shared tensor, or a named error saying which is missing. */
export function sharedName(m: LoraModule, part: string, saved: string): string {
  const n = m.method?.shared?.[part];
  if (!n)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name}: the global ${saved} tensor is not in the file`,
      m.name,
    );
  return n;
}

export function invalid(m: LoraModule, why: string): CheckpointError {
  return new CheckpointError('InvalidExport', `${m.name}: ${why}`, m.name);
}

/**
 * The adapted layer's [out, in]: the base weight's when the caller has it, else what the module's own
 * tensors say (the statistics pass no base). Linear layers only, as PEFT's VeRA/RandLoRA/VB-LoRA.
 */
export function linearDims(
  m: LoraModule,
  weightShape: readonly number[],
  label: string,
): [number, number] {
  if (weightShape.length === 0) {
    if (m.outFeatures !== null && m.inFeatures !== null) return [m.outFeatures, m.inFeatures];
    throw invalid(
      m,
      `${label} needs the base layer's shape, which this module's own tensors do not give`,
    );
  }
  const [out, inF] = weightShape;
  if (weightShape.length !== 2 || !out || !inF)
    throw invalid(
      m,
      `${label} adapts linear layers only, the base weight is [${weightShape.join(', ')}]`,
    );
  if (m.outFeatures !== null && m.outFeatures !== out)
    throw invalid(m, `the adapter has ${m.outFeatures} outputs, the base layer ${out}`);
  if (m.inFeatures !== null && m.inFeatures !== inF)
    throw invalid(m, `the adapter has ${m.inFeatures} inputs, the base layer ${inF}`);
  return [out, inF];
}
