import type { CheckpointInfo } from '../formats/checkpoint.js';
import { configObject, metaValue, plural } from './checkpointFacts.js';
import type { Algorithm, RawModule } from './moduleGrouping.js';
import { unsupportedByTensor, unsupportedByType } from './methods/unsupported.js';
import type { PartStyle } from './tensorParts.js';
import type { LoraFamily } from './types.js';

export interface DetectedModule {
  readonly raw: RawModule;
  readonly algorithm: Algorithm;
}

export interface FamilyDecision {
  readonly family: LoraFamily;
  readonly label: string;
  readonly evidence: string[];
}

export const FAMILY_LABELS: Readonly<Record<LoraFamily, string>> = {
  peft: 'PEFT',
  kohya: 'kohya / sd-scripts',
  lycoris: 'LyCORIS',
  diffusers: 'diffusers',
  bfl: 'BFL / ai-toolkit (Flux-style names)',
  xlabs: 'XLabs',
  mlx: 'MLX-LM',
  gguf: 'llama.cpp GGUF LoRA',
  'lora-diffusion': 'lora_diffusion (index keys)',
  onnx: 'ONNX adapter (Olive / ORT-GenAI)',
  unknown: 'unknown layout',
  none: 'no adapter tensors',
};

/** kohya-style flattened prefixes (sd-scripts, OneTrainer, LyCORIS-kohya, sd-scripts OFT). */
export const KOHYA_PREFIX =
  /^(lora_unet|lora_te\d*|lora_transformer|lora_prior_unet|lora_prior_te|lycoris|oft_unet|oft_te\d*)_/;
/** diffusers pipeline components. */
export const DIFFUSERS_COMPONENT = /^(unet|text_encoder(?:_\d+)?|transformer|prior|controlnet)\./;
export const PEFT_PREFIX = 'base_model.model.';
export const BFL_PREFIX = 'diffusion_model.';
const BFL_BARE =
  /^(double_blocks|single_blocks|img_in|txt_in|time_in|vector_in|guidance_in|final_layer)\./;
const XLABS = /^(double_blocks|single_blocks)\.\d+\.processor\.\w*lora\d*$/;
const ATTN_PROCS = /(?:\.processor\.\w+_lora|\.lora_linear_layer|\.lora)$/;
/** Module names that read as diffusers (UNet / DiT blocks). */
const DIFFUSERS_WORDS =
  /(^|\.)(transformer_blocks|single_transformer_blocks|down_blocks|up_blocks|mid_block|attentions)\./;
const LYCORIS_ALGOS: ReadonlySet<Algorithm> = new Set([
  'loha',
  'lokr',
  'ia3',
  'boft',
  'full',
  'norm',
]);

interface Counts {
  readonly n: number;
  readonly style: (s: PartStyle) => number;
  readonly where: (test: (m: DetectedModule) => boolean) => DetectedModule[];
}

function counts(modules: readonly DetectedModule[]): Counts {
  const styles = new Map<PartStyle, number>();
  for (const m of modules) for (const s of m.raw.styles) styles.set(s, (styles.get(s) ?? 0) + 1);
  return {
    n: modules.length,
    style: (s) => styles.get(s) ?? 0,
    where: (test) => modules.filter(test),
  };
}

/** "3 modules under base_model.model., e.g. base_model.model.x" */
function found(ms: readonly DetectedModule[], what: string): string {
  const example = ms[0]?.raw.name;
  return `${plural(ms.length, 'module')} ${what}${example ? `, e.g. ${example}` : ''}`;
}

function isLycorisAlgo(m: DetectedModule): boolean {
  // sd-scripts' own OFT (oft_unet_ prefix) is kohya, not LyCORIS.
  if (m.algorithm === 'oft') return !/^oft_/.test(m.raw.name) && m.raw.parts.has('oft_blocks');
  return LYCORIS_ALGOS.has(m.algorithm);
}

function suffixEvidence(c: Counts): string[] {
  const out: string[] = [];
  const say = (style: PartStyle, text: string): void => {
    const k = c.style(style);
    if (k) out.push(`${plural(k, 'module')} with ${text}`);
  };
  say('peft', 'PEFT suffixes (.lora_A / .lora_B …)');
  say('peft-embedding', 'PEFT embedding suffixes (.lora_embedding_A / _B)');
  say('kohya', 'kohya suffixes (.lora_down.weight / .lora_up.weight)');
  say('dot-updown', '.down.weight / .up.weight under a *lora* module');
  say('lower-ab', 'lower-case .lora_a / .lora_b');
  say('lycoris', 'LyCORIS suffixes (hada_*, lokr_*, oft_blocks, diff, …)');
  say('index', 'index keys (<part>:<i>:up / :down)');
  say('onnx', 'ONNX suffixes (.lora_A.MatMul.weight)');
  return out;
}

/**
 * Decides the family from complete modules, metadata and configs. The order follows how decisive each
 * signal is: file-level declarations first (GGUF KVs), then prefixes that only one family writes.
 */
export function detectFamily(
  modules: readonly DetectedModule[],
  orphans: readonly RawModule[],
  info: CheckpointInfo,
): FamilyDecision {
  const c = counts(modules);
  const evidence: string[] = [];
  const decide = (family: LoraFamily, extra: string[] = []): FamilyDecision => ({
    family,
    label: FAMILY_LABELS[family],
    evidence: [...evidence, ...extra, ...suffixEvidence(c)],
  });
  const adapterConfig = configObject(info, 'adapter_config.json');
  const networkModule = metaValue(info, 'ss_network_module');

  // 1. GGUF declares itself.
  if (metaValue(info, 'general.type') === 'adapter') {
    evidence.push(
      `metadata general.type = adapter, adapter.type = ${metaValue(info, 'adapter.type') ?? '(missing)'}`,
    );
    const alpha = metaValue(info, 'adapter.lora.alpha');
    if (alpha !== undefined) evidence.push(`metadata adapter.lora.alpha = ${alpha}`);
    return decide('gguf');
  }
  if (!c.n) return noModules(info, orphans);

  const index = c.where((m) => m.raw.styles.has('index'));
  if (index.length)
    return decide('lora-diffusion', [found(index, 'keyed by index (cloneofsimo lora_diffusion)')]);

  const onnx = c.where((m) => m.raw.styles.has('onnx'));
  if (onnx.length || info.format === 'onnx') {
    evidence.push(
      info.format === 'onnx'
        ? 'the file is an ONNX model / adapter'
        : found(onnx, 'with MatMul initializers'),
    );
    return decide('onnx');
  }
  if (info.format === 'gguf' && c.style('lower-ab')) {
    evidence.push('a GGUF file with .lora_a / .lora_b tensors, but general.type is not "adapter"');
    return decide('gguf');
  }

  const peft = c.where((m) => m.raw.name.includes(PEFT_PREFIX));
  const peftType =
    adapterConfig && typeof adapterConfig['peft_type'] === 'string'
      ? adapterConfig['peft_type']
      : undefined;
  if (peft.length) {
    evidence.push(found(peft, `under ${PEFT_PREFIX}`));
    const wrapper = peft[0]?.raw.name.slice(0, peft[0].raw.name.indexOf(PEFT_PREFIX));
    if (wrapper) evidence.push(`keys wrapped in "${wrapper}" (a training checkpoint's state dict)`);
    if (peftType) evidence.push(`adapter_config.json peft_type = ${peftType}`);
    else if (adapterConfig) evidence.push('adapter_config.json has no peft_type');
    else evidence.push('no adapter_config.json beside the file (r and lora_alpha unknown)');
    return decide('peft');
  }

  const lower = c.where((m) => m.raw.styles.has('lower-ab'));
  if (lower.length) {
    evidence.push(found(lower, 'with .lora_a [in, r] / .lora_b [r, out]'));
    if (adapterConfig && 'lora_parameters' in adapterConfig)
      evidence.push('adapter_config.json has lora_parameters (MLX-LM)');
    return decide('mlx');
  }

  const kohya = c.where((m) => KOHYA_PREFIX.test(m.raw.name));
  if (kohya.length) {
    const prefixes = [...new Set(kohya.map((m) => KOHYA_PREFIX.exec(m.raw.name)?.[1] ?? ''))];
    evidence.push(
      found(kohya, `with flattened prefixes ${prefixes.map((p) => `${p}_`).join(', ')}`),
    );
    if (prefixes.includes('lora_transformer'))
      evidence.push('lora_transformer_ prefix: OneTrainer naming');
    if (networkModule) evidence.push(`metadata ss_network_module = ${networkModule}`);
    const lyco = kohya.filter(isLycorisAlgo);
    if (lyco.length || networkModule?.startsWith('lycoris')) {
      if (lyco.length) evidence.push(`${plural(lyco.length, 'module')} use LyCORIS algorithms`);
      return decide('lycoris');
    }
    return decide('kohya');
  }

  const xlabs = c.where((m) => XLABS.test(m.raw.name) && m.raw.styles.has('dot-updown'));
  if (xlabs.length)
    return decide('xlabs', [found(xlabs, 'named <block>.processor.*_lora<n> (XLabs Flux)')]);

  const diffusersMeta = metaValue(info, 'lora_adapter_metadata') !== undefined;
  const components = c.where((m) => DIFFUSERS_COMPONENT.test(m.raw.name));
  const attnProcs = c.where((m) => ATTN_PROCS.test(m.raw.name));
  if (components.length || attnProcs.length || diffusersMeta) {
    if (components.length) {
      const names = [
        ...new Set(components.map((m) => DIFFUSERS_COMPONENT.exec(m.raw.name)?.[1] ?? '')),
      ];
      evidence.push(
        found(components, `under diffusers components ${names.map((n) => `${n}.`).join(', ')}`),
      );
    }
    if (attnProcs.length) evidence.push(found(attnProcs, 'with old attention-processor names'));
    if (diffusersMeta)
      evidence.push('metadata lora_adapter_metadata (diffusers-saved PEFT config)');
    return decide('diffusers');
  }

  const bflPrefixed = c.where((m) => m.raw.name.startsWith(BFL_PREFIX));
  const bflBare = c.where((m) => BFL_BARE.test(m.raw.name));
  if (bflPrefixed.length || bflBare.length) {
    if (bflPrefixed.length)
      evidence.push(found(bflPrefixed, `under ${BFL_PREFIX} (ai-toolkit / ComfyUI / BFL)`));
    if (bflBare.length) evidence.push(found(bflBare, 'with bare BFL Flux names'));
    const lyco = [...bflPrefixed, ...bflBare].filter(isLycorisAlgo);
    if (lyco.length) {
      evidence.push(`${plural(lyco.length, 'module')} use LyCORIS algorithms`);
      return decide('lycoris');
    }
    return decide('bfl');
  }

  const lyco = c.where(isLycorisAlgo);
  if (lyco.length) return decide('lycoris', [found(lyco, 'use LyCORIS algorithms')]);

  const dottedKohya = c.where((m) => m.raw.styles.has('kohya') && DIFFUSERS_WORDS.test(m.raw.name));
  if (dottedKohya.length) {
    return decide('diffusers', [
      found(
        dottedKohya,
        'with kohya suffixes on dotted diffusers module paths (no component prefix)',
      ),
    ]);
  }

  if (peftType) {
    evidence.push(`adapter_config.json peft_type = ${peftType}, but keys lack ${PEFT_PREFIX}`);
    return decide('peft');
  }
  return decide('unknown', [
    `no family explains these names: ${plural(c.n, 'adapter-like module')}, e.g. ${modules[0]?.raw.name ?? ''}`,
  ]);
}

function noModules(info: CheckpointInfo, orphans: readonly RawModule[]): FamilyDecision {
  // Loose halves (a lora_A alone) are adapter content in a layout nothing completes.
  const halves = orphans.filter((m) => [...m.styles].some((s) => s !== 'shared'));
  if (halves.length) {
    return {
      family: 'unknown',
      label: FAMILY_LABELS.unknown,
      evidence: [
        `${plural(halves.length, 'adapter tensor group')} without a complete module, e.g. ${[...(halves[0]?.parts.values() ?? [])][0]?.name ?? ''}`,
      ],
    };
  }
  const unsupported = unsupportedMethod(info);
  if (unsupported) return { family: 'peft', label: FAMILY_LABELS.peft, evidence: [unsupported] };
  const n = info.tensors.length;
  const evidence = [`no adapter tensor names among ${plural(n, 'tensor')}`];
  if (configObject(info, 'adapter_config.json'))
    evidence.push('adapter_config.json is present but matches no tensor');
  return { family: 'none', label: FAMILY_LABELS.none, evidence };
}

/** A PEFT method LoRA Lens does not implement, named from the config or the tensor names. */
export function unsupportedMethod(info: CheckpointInfo): string | undefined {
  const config = configObject(info, 'adapter_config.json');
  const type = config && typeof config['peft_type'] === 'string' ? config['peft_type'] : undefined;
  const byType = unsupportedByType(type);
  if (byType)
    return `adapter_config.json peft_type = ${type ?? ''}: PEFT ${byType.label}, a method LoRA Lens does not support yet`;
  for (const t of info.tensors) {
    const byName = unsupportedByTensor(t.name);
    if (byName)
      return `${t.name} is a PEFT ${byName.label} tensor: a method LoRA Lens does not support yet`;
  }
  return undefined;
}
