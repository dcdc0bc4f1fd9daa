/**
 * adapter_config.json for a PEFT output: the source's own LoRA config with r / lora_alpha and the
 * patterns rewritten so every module loads with alpha = scale·rank, or, when the source was another
 * PEFT method (LoHa, LoKr, AdaLoRA), a LoRA config carrying over only the fields LoRA shares.
 */
import type { Checkpoint, PlainValue } from '../formats/checkpoint.js';
import type { PreparedModule } from './writeAdapter.js';

type Config = Record<string, PlainValue>;

/** Fields every PEFT config has that mean the same in a LoRA config. */
const SHARED_FIELDS = [
  'base_model_name_or_path',
  'revision',
  'task_type',
  'exclude_modules',
  'layers_to_transform',
  'layers_pattern',
  'fan_in_fan_out',
  'auto_mapping',
];

function sourceConfig(ckpt: Checkpoint): Config | undefined {
  const c = ckpt.configs?.['adapter_config.json'];
  return c && typeof c === 'object' && !Array.isArray(c) ? (c as Config) : undefined;
}

/** The most common (rank, alpha) pair becomes r / lora_alpha; the others go into the patterns. */
function patterns(modules: readonly PreparedModule[]) {
  const written = modules.map((m) => m.written);
  const counts = new Map<string, number>();
  written.forEach((w) => {
    const key = `${w.rank}:${w.alpha}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  let best = '';
  let most = -1;
  for (const [key, n] of counts) if (n > most) [best, most] = [key, n];
  const [r, alpha] = best.split(':').map(Number) as [number, number];
  const rankPattern: Config = {};
  const alphaPattern: Config = {};
  written.forEach((w, i) => {
    const target = (modules[i] as PreparedModule).template.target;
    if (w.rank !== r) rankPattern[target] = w.rank;
    if (w.alpha !== alpha) alphaPattern[target] = w.alpha;
  });
  return { r, alpha, rankPattern, alphaPattern };
}

export function peftOutputConfig(source: Checkpoint, modules: readonly PreparedModule[]): Config {
  const own = sourceConfig(source);
  const isLora =
    own !== undefined && (own['peft_type'] === undefined || own['peft_type'] === 'LORA');
  const base: Config = {};
  if (isLora) Object.assign(base, own);
  else {
    for (const f of SHARED_FIELDS) if (own && f in own) base[f] = own[f] as PlainValue;
  }
  const { r, alpha, rankPattern, alphaPattern } = patterns(modules);
  return {
    ...base,
    peft_type: 'LORA',
    // Exactly the written modules, by full path (PEFT matches list entries as suffixes): leaf names
    // would also target modules that have no weights here (another adapter's, or untrained layers),
    // which PEFT would then initialise by init_lora_weights instead of leaving alone.
    target_modules: [...new Set(modules.map((m) => m.template.target))],
    r,
    lora_alpha: alpha,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    // alpha = scale·rank is written for alpha/r; rsLoRA's alpha/√r would change every scale.
    use_rslora: false,
    use_dora: modules.some((m) => m.hasMagnitude),
    // A weights-only adapter: full copies of modules_to_save are not carried.
    modules_to_save: null,
    // Bias tensors are not low-rank factors and are not written.
    bias: 'none',
    inference_mode: true,
  };
}
