import type { CheckpointInfo, PlainValue } from '../formats/checkpoint.js';
import {
  configObject,
  isPlainObject,
  metaJson,
  numberOf,
  type PlainObject,
} from './checkpointFacts.js';

/** The scale-relevant part of a PEFT config (adapter_config.json, or diffusers' metadata copy). */
export interface PeftScaleConfig {
  readonly origin: 'adapter_config' | 'lora_adapter_metadata';
  /** Where it was read: `adapter_config.json`, or `lora_adapter_metadata[transformer]`. */
  readonly where: string;
  readonly peftType?: string;
  readonly r: number;
  readonly alpha: number;
  /** `lora_alpha` for LoRA, `alpha` for LoHa / LoKr. */
  readonly alphaField: string;
  readonly useRslora: boolean;
  readonly useDora: boolean;
  readonly rankPattern: readonly (readonly [string, number])[];
  readonly alphaPattern: readonly (readonly [string, number])[];
  readonly modulesToSave: readonly string[];
}

// PEFT's LoraConfig defaults (src/peft/tuners/lora/config.py).
const DEFAULT_R = 8;
const DEFAULT_ALPHA = 8;

function patterns(v: PlainValue | undefined): [string, number][] {
  if (!isPlainObject(v)) return [];
  const out: [string, number][] = [];
  // Object key order is insertion order for these (non-integer) keys: PEFT's dict order survives.
  for (const [k, x] of Object.entries(v)) {
    const n = numberOf(x);
    if (n !== undefined) out.push([k, n]);
  }
  return out;
}

function strings(v: PlainValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function fromObject(
  o: PlainObject,
  origin: PeftScaleConfig['origin'],
  where: string,
): PeftScaleConfig {
  const peftType = typeof o['peft_type'] === 'string' ? o['peft_type'] : undefined;
  // LoHa / LoKr configs call it `alpha`; LoRA `lora_alpha`.
  const alphaField = 'lora_alpha' in o || !('alpha' in o) ? 'lora_alpha' : 'alpha';
  return {
    origin,
    where,
    ...(peftType ? { peftType } : {}),
    r: numberOf(o['r']) ?? DEFAULT_R,
    alpha: numberOf(o[alphaField]) ?? DEFAULT_ALPHA,
    alphaField,
    useRslora: o['use_rslora'] === true,
    useDora: o['use_dora'] === true,
    rankPattern: patterns(o['rank_pattern']),
    alphaPattern: patterns(o['alpha_pattern']),
    modulesToSave: strings(o['modules_to_save']),
  };
}

/** adapter_config.json when it is PEFT's (MLX writes one too, with lora_parameters instead). */
export function peftConfigObject(info: CheckpointInfo): PlainObject | undefined {
  const o = configObject(info, 'adapter_config.json');
  if (!o || 'lora_parameters' in o) return undefined;
  if (!('peft_type' in o) && !('r' in o) && !('lora_alpha' in o)) return undefined;
  return o;
}

export function peftAdapterConfig(info: CheckpointInfo): PeftScaleConfig | undefined {
  const o = peftConfigObject(info);
  return o ? fromObject(o, 'adapter_config', 'adapter_config.json') : undefined;
}

/**
 * diffusers saves each component's LoraConfig in `__metadata__.lora_adapter_metadata` as JSON with keys
 * prefixed by the component (`transformer.r`, `transformer.lora_alpha`, …; loaders/lora_base.py).
 */
export function diffusersAdapterConfigs(info: CheckpointInfo): Map<string, PeftScaleConfig> {
  const out = new Map<string, PeftScaleConfig>();
  const meta = metaJson(info, 'lora_adapter_metadata');
  if (!meta) return out;
  const byComponent = new Map<string, PlainObject>();
  for (const [k, v] of Object.entries(meta)) {
    const dot = k.indexOf('.');
    const [component, field] = dot > 0 ? [k.slice(0, dot), k.slice(dot + 1)] : ['', k];
    const o = byComponent.get(component) ?? {};
    o[field] = v;
    byComponent.set(component, o);
  }
  for (const [component, o] of byComponent)
    out.set(
      component,
      fromObject(o, 'lora_adapter_metadata', `lora_adapter_metadata[${component || '*'}]`),
    );
  return out;
}

export interface PatternMatch {
  readonly pattern: string;
  readonly value: number;
}

/**
 * PEFT's get_pattern_key (utils/other.py): the FIRST key, in dict order, for which
 * `re.match(rf"(.*\.)?({key})$", module_key)` succeeds. `re.match` anchors at the start only.
 */
export function matchPattern(
  patternList: readonly (readonly [string, number])[],
  moduleKey: string,
  onBadPattern?: (pattern: string) => void,
): PatternMatch | undefined {
  for (const [pattern, value] of patternList) {
    const re = compiled(pattern);
    if (re === null) {
      onBadPattern?.(pattern);
      continue;
    }
    if (re.test(moduleKey)) return { pattern, value };
  }
  return undefined;
}

// Patterns repeat for every module of an adapter: compile each once (null = not valid in JavaScript).
const PATTERN_CACHE = new Map<string, RegExp | null>();
const PATTERN_CACHE_LIMIT = 1000;

function compiled(pattern: string): RegExp | null {
  let re = PATTERN_CACHE.get(pattern);
  if (re !== undefined) return re;
  try {
    // Python named groups (?P<n>…) are (?<n>…) in JavaScript.
    re = new RegExp(`^(.*\\.)?(${pattern.replace(/\(\?P</g, '(?<')})$`);
  } catch {
    re = null;
  }
  if (PATTERN_CACHE.size >= PATTERN_CACHE_LIMIT) PATTERN_CACHE.clear();
  PATTERN_CACHE.set(pattern, re);
  return re;
}
