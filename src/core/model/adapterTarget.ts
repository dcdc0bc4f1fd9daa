/**
 * Which model an adapter was trained for, when it says so itself: kohya's `ss_base_model_version` /
 * `ss_v2`, the ModelSpec `modelspec.architecture`, or PEFT's `base_model_name_or_path`. Only the family
 * (and variant) follow from that; the dimensions are the base's, so they stay null until a base is given.
 */
import type { CheckpointInfo } from '../formats/checkpoint.js';
import { configObject, metaValue } from '../lora/checkpointFacts.js';
import { EMPTY_DIMS, type Evidence, type ModelArchitecture, type ModelKind } from './types.js';

interface Target {
  readonly family: string;
  readonly variant: string | null;
  readonly kind: ModelKind;
}

const UNET: ModelKind = 'diffusion-unet';
const DIT: ModelKind = 'diffusion-transformer';
const LM: ModelKind = 'causal-lm';

/** kohya sd-scripts' `ss_base_model_version` values. */
const KOHYA: readonly [RegExp, Target][] = [
  [/^sdxl_base/, { family: 'sdxl', variant: 'SDXL', kind: UNET }],
  [/^sdxl_refiner/, { family: 'sdxl-refiner', variant: 'SDXL refiner', kind: UNET }],
  [/^sd_v2/, { family: 'sd2', variant: 'SD 2.x', kind: UNET }],
  [/^sd_v1/, { family: 'sd1', variant: 'SD 1.x', kind: UNET }],
  [/^sd3/, { family: 'sd3', variant: null, kind: DIT }],
  [/^flux1?/, { family: 'flux', variant: null, kind: DIT }],
];

/** ModelSpec (Stability's metadata standard) `modelspec.architecture`, before the `/lora` suffix. */
const MODELSPEC: readonly [RegExp, Target][] = [
  [
    /^stable-diffusion-xl-v1-refiner/,
    { family: 'sdxl-refiner', variant: 'SDXL refiner', kind: UNET },
  ],
  [/^stable-diffusion-xl/, { family: 'sdxl', variant: 'SDXL', kind: UNET }],
  [/^stable-diffusion-v2/, { family: 'sd2', variant: 'SD 2.x', kind: UNET }],
  [/^stable-diffusion-v1/, { family: 'sd1', variant: 'SD 1.x', kind: UNET }],
  [/^stable-diffusion-3\.5-large/, { family: 'sd3', variant: 'SD3.5 Large', kind: DIT }],
  [/^stable-diffusion-3\.5-medium/, { family: 'sd3', variant: 'SD3.5 Medium', kind: DIT }],
  [/^stable-diffusion-3/, { family: 'sd3', variant: null, kind: DIT }],
  [/^flux-1-dev/, { family: 'flux', variant: 'Flux.1 dev', kind: DIT }],
  [/^flux-1-schnell/, { family: 'flux', variant: 'Flux.1 schnell', kind: DIT }],
  [/^flux/, { family: 'flux', variant: null, kind: DIT }],
];

/** Hub repo names (`meta-llama/Llama-3.1-8B`): the family is in the name, by convention only. */
const REPO: readonly [RegExp, Target][] = [
  [/mixtral/i, { family: 'mixtral', variant: null, kind: LM }],
  [/mistral/i, { family: 'mistral', variant: null, kind: LM }],
  [/llama-?3/i, { family: 'llama', variant: 'Llama 3', kind: LM }],
  [/llama-?2/i, { family: 'llama', variant: 'Llama 2', kind: LM }],
  [/llama/i, { family: 'llama', variant: null, kind: LM }],
  [/qwen-?3/i, { family: 'qwen3', variant: null, kind: LM }],
  [/qwen-?2\.5/i, { family: 'qwen2', variant: 'Qwen2.5', kind: LM }],
  [/qwen-?2/i, { family: 'qwen2', variant: null, kind: LM }],
  [/gemma-?3/i, { family: 'gemma3', variant: 'Gemma 3', kind: LM }],
  [/gemma-?2/i, { family: 'gemma2', variant: 'Gemma 2', kind: LM }],
  [/gemma/i, { family: 'gemma', variant: null, kind: LM }],
  [/phi-?3/i, { family: 'phi3', variant: null, kind: LM }],
  [/phi-?2/i, { family: 'phi', variant: null, kind: LM }],
  [/gpt2/i, { family: 'gpt2', variant: null, kind: LM }],
  [/pythia|gpt-neox/i, { family: 'gpt_neox', variant: null, kind: LM }],
  [/opt-\d/i, { family: 'opt', variant: null, kind: LM }],
  [/falcon/i, { family: 'falcon', variant: null, kind: LM }],
  [/stable-diffusion-xl|sdxl/i, { family: 'sdxl', variant: 'SDXL', kind: UNET }],
  [/flux\.?1?-dev/i, { family: 'flux', variant: 'Flux.1 dev', kind: DIT }],
  [/flux\.?1?-schnell/i, { family: 'flux', variant: 'Flux.1 schnell', kind: DIT }],
];

const first = (table: readonly [RegExp, Target][], text: string): Target | undefined =>
  table.find(([re]) => re.test(text))?.[1];

const WHY = 'an adapter: its base model has the dimensions (pass --base, or choose one)';

/** The adapter's own word on its base, or null when it says nothing. */
export function adapterTarget(info: CheckpointInfo): ModelArchitecture | null {
  let target: Target | undefined;
  const evidence: Evidence[] = [];
  const kohya = metaValue(info, 'ss_base_model_version');
  const spec = metaValue(info, 'modelspec.architecture');
  const repo = configObject(info, 'adapter_config.json')?.['base_model_name_or_path'];
  if (kohya !== undefined && (target = first(KOHYA, kohya)))
    evidence.push({ source: 'kohya', claim: `ss_base_model_version = "${kohya}"` });
  else if (spec !== undefined && (target = first(MODELSPEC, spec)))
    evidence.push({ source: 'kohya', claim: `modelspec.architecture = "${spec}"` });
  else if (
    typeof repo === 'string' &&
    repo.length < 500 &&
    (target = first(REPO, repo.split('/').pop() ?? ''))
  )
    evidence.push({
      source: 'config',
      claim: `adapter_config.json base_model_name_or_path = "${repo}" (by its name)`,
    });
  if (!target) return null;
  const undetermined = Object.fromEntries(Object.keys(EMPTY_DIMS).map((k) => [k, WHY]));
  return {
    family: target.family,
    variant: target.variant,
    kind: target.kind,
    evidence,
    dims: EMPTY_DIMS,
    undetermined,
    components: [],
  };
}
