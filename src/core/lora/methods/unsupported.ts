/**
 * PEFT methods LoRA Lens does not implement (yet), by `peft_type` and by the prefix their tensors
 * carry (each tuner's `prefix`, read off PEFT 0.21's classes), so such an adapter is named — "a PEFT
 * SHiRA adapter, not supported" — rather than reported as no adapter at all.
 */
export interface UnsupportedMethod {
  readonly peftType: string;
  readonly label: string;
  /** The tensor-name prefix after the module path (`x.shira_weight`); null for prompt methods. */
  readonly prefix: string | null;
}

const M = (peftType: string, label: string, prefix: string | null): UnsupportedMethod => ({
  peftType,
  label,
  prefix,
});

export const UNSUPPORTED_METHODS: readonly UnsupportedMethod[] = [
  M('ADAMSS', 'AdaMSS', 'adamss_'),
  M('BEFT', 'BEFT', 'beft_'),
  M('DEFT', 'DEFT', 'deft_'),
  M('DELORA', 'DeLoRA', 'delora_'),
  M('FROD', 'FRoD', 'frod_'),
  M('GLORA', 'GLoRA', 'glora_'),
  M('GRALORA', 'GraLoRA', 'gralora_'),
  M('HIRA', 'HiRA', 'hira_'),
  M('LILY', 'Lily', 'lily_'),
  M('OSF', 'OSF', 'osf_'),
  M('PEANUT', 'PEANuT', 'peanut_'),
  M('POLY', 'Poly', 'poly_'),
  M('PSOFT', 'PSOFT', 'psoft_'),
  M('PVERA', 'PVeRA', 'pvera_lambda_'),
  M('ROAD', 'RoAd', 'road_'),
  M('SHADOW', 'SHADOW', 'shadow_'),
  M('SHIRA', 'SHiRA', 'shira_'),
  M('SUPERTUNING', 'SuperTuning', 'supertuning_'),
  M('UNILORA', 'UniLoRA', 'unilora_'),
  M('XLORA', 'X-LoRA', null),
  M('CARTRIDGE', 'Cartridge', null),
  M('CPT', 'CPT', null),
  M('PROMPT_TUNING', 'prompt tuning', null),
  M('MULTITASK_PROMPT_TUNING', 'multitask prompt tuning', null),
  M('P_TUNING', 'P-tuning', null),
  M('PREFIX_TUNING', 'prefix tuning', null),
  M('ADAPTION_PROMPT', 'adaption prompt', null),
];

const BY_TYPE = new Map(UNSUPPORTED_METHODS.map((m) => [m.peftType, m]));
const WITH_PREFIX = UNSUPPORTED_METHODS.filter((m) => m.prefix !== null);
const PREFIX_RE = new RegExp(String.raw`\.(${WITH_PREFIX.map((m) => m.prefix).join('|')})`);

export function unsupportedByType(peftType: string | undefined): UnsupportedMethod | undefined {
  return peftType ? BY_TYPE.get(peftType.toUpperCase()) : undefined;
}

/** The unsupported method a tensor name belongs to, from the prefix after a module path. */
export function unsupportedByTensor(name: string): UnsupportedMethod | undefined {
  const m = PREFIX_RE.exec(name);
  if (!m) return undefined;
  return WITH_PREFIX.find((u) => u.prefix === m[1]);
}
