/**
 * Tensor name → (module, part). The suffix alone decides: `x.lora_A.weight` is part `down` of module
 * `x`. Used by the analysis and by the editor's "group by module" view, which needs no family.
 */

/** Which naming convention a suffix belongs to; the family detector counts these. */
export type PartStyle =
  | 'peft' // lora_A / lora_B (+ .weight / .bias / adapter name), PEFT's other method names
  | 'peft-embedding' // lora_embedding_A / lora_embedding_B
  | 'kohya' // lora_down / lora_up / lora_mid
  | 'dot-updown' // <x>lora.down.weight, <x>_lora1.up.weight, lora_linear_layer.down.weight
  | 'lower-ab' // lora_a / lora_b (MLX, GGUF)
  | 'lycoris' // hada_*, lokr_*, oft_blocks, diff, w_norm, on_input, …
  | 'index' // unet:0:up
  | 'onnx' // lora_A.MatMul.weight
  | 'shared'; // alpha, dora_scale: any family

export interface TensorPart {
  /** The module the tensor belongs to: the name without its part suffix. */
  readonly module: string;
  /** down, up, mid, up_bias, alpha, magnitude, dora_scale, lora_E, hada_w1_a, lokr_w1, … */
  readonly part: string;
  readonly style: PartStyle;
  /** PEFT's in-memory adapter name (`lora_A.default.weight`), when present. */
  readonly adapter?: string;
}

import { METHOD_HINT, METHOD_PART_RULES } from './methods/registry.js';

const ADAPTER = String.raw`(?:\.([A-Za-z_][\w-]*))?`;

interface Rule {
  readonly re: RegExp;
  readonly style: PartStyle;
  /** Part name from the match: groups are (module, …). */
  readonly part: (m: RegExpExecArray) => string;
  /** Index of the adapter-name group, if the rule has one. */
  readonly adapterGroup?: number;
}

const AB = (letter: string | undefined): string => (letter?.toUpperCase() === 'A' ? 'down' : 'up');

// Order matters: the first rule that matches wins.
const RULES: readonly Rule[] = [
  { re: /^([^:]+:\d+):(up|down)$/, style: 'index', part: (m) => m[2] ?? '' },
  {
    re: /^(.*)\.lora_([AB])\.MatMul(?:_Q4)?\.weight$/,
    style: 'onnx',
    part: (m) => AB(m[2]),
  },
  {
    re: new RegExp(String.raw`^(.*)\.lora_([AB])${ADAPTER}\.weight$`),
    style: 'peft',
    part: (m) => AB(m[2]),
    adapterGroup: 3,
  },
  {
    re: new RegExp(String.raw`^(.*)\.lora_B${ADAPTER}\.bias$`),
    style: 'peft',
    part: () => 'up_bias',
    adapterGroup: 2,
  },
  // AdaLoRA and some exporters store A/B as bare parameters (no `.weight`).
  { re: /^(.*)\.lora_([AB])$/, style: 'peft', part: (m) => AB(m[2]) },
  {
    re: new RegExp(String.raw`^(.*)\.lora_E${ADAPTER}$`),
    style: 'peft',
    part: () => 'lora_E',
    adapterGroup: 2,
  },
  {
    re: new RegExp(String.raw`^(.*)\.ranknum${ADAPTER}$`),
    style: 'peft',
    part: () => 'ranknum',
    adapterGroup: 2,
  },
  {
    re: new RegExp(String.raw`^(.*)\.lora_embedding_([AB])${ADAPTER}$`),
    style: 'peft-embedding',
    part: (m) => AB(m[2]),
    adapterGroup: 3,
  },
  {
    re: new RegExp(String.raw`^(.*)\.lora_magnitude_vector${ADAPTER}(?:\.weight)?$`),
    style: 'peft',
    part: () => 'magnitude',
    adapterGroup: 2,
  },
  { re: /^(.*)\.lora_(down|up)\.weight$/, style: 'kohya', part: (m) => m[2] ?? '' },
  // sd-scripts Flux split-QKV variant: lora_down.0.weight, lora_up.2.weight.
  { re: /^(.*)\.lora_(down|up)\.(\d+)\.weight$/, style: 'kohya', part: (m) => `${m[2]}.${m[3]}` },
  { re: /^(.*)\.lora_mid\.weight$/, style: 'kohya', part: () => 'mid' },
  { re: /^(.*)\.lora_([ab])$/, style: 'lower-ab', part: (m) => AB(m[2]) },
  // Only under a LoRA-named module: a bare `.up.weight` is common in ordinary models (VAE decoders).
  {
    re: /^(.*(?:lora|lora\d+|lora_linear_layer))\.(down|up)\.weight$/,
    style: 'dot-updown',
    part: (m) => m[2] ?? '',
  },
  { re: /^(.*)\.alpha$/, style: 'shared', part: () => 'alpha' },
  { re: /^(.*)\.dora_scale$/, style: 'shared', part: () => 'dora_scale' },
  {
    re: new RegExp(
      String.raw`^(.*)\.(hada_w[12]_[ab]|hada_t[12]|lokr_w[12](?:_[ab])?|lokr_t[12])${ADAPTER}$`,
    ),
    style: 'lycoris',
    part: (m) => m[2] ?? '',
    adapterGroup: 3,
  },
  {
    re: /^(.*)\.(oft_blocks|oft_diag|rescale|diff|diff_b|w_norm|b_norm|on_input|set_weight)$/,
    style: 'lycoris',
    part: (m) => m[2] ?? '',
  },
  {
    re: new RegExp(String.raw`^(.*)\.(ia3_l|oft_r|oft_s|boft_R|boft_s)${ADAPTER}$`),
    style: 'peft',
    part: (m) => m[2] ?? '',
    adapterGroup: 3,
  },
  {
    re: new RegExp(String.raw`^(.*)\.oft_R${ADAPTER}\.weight$`),
    style: 'peft',
    part: () => 'oft_R',
    adapterGroup: 2,
  },
];

// Every rule's suffix contains one of these; most tensors of a base model fail this one test.
const ANY_SUFFIX =
  /lora|hada_|lokr_|oft_|boft_|ia3_l|ranknum|\.alpha$|\.dora_scale$|\.diff(?:_b)?$|\.[wb]_norm$|\.rescale$|\.on_input$|\.set_weight$|:\d+:(?:up|down)$/;

/** The module and part of one tensor name, or undefined when no adapter suffix matches. */
export function tensorPart(name: string): TensorPart | undefined {
  if (!ANY_SUFFIX.test(name)) return METHOD_HINT?.test(name) ? methodPart(name) : undefined;
  for (const rule of RULES) {
    const m = rule.re.exec(name);
    if (!m) continue;
    const module = m[1] ?? '';
    if (!module) continue;
    const adapter = rule.adapterGroup === undefined ? undefined : m[rule.adapterGroup];
    // `x.lora_magnitude_vector.weight` is the weight suffix, not an adapter named "weight".
    const realAdapter = adapter && adapter !== 'weight' ? adapter : undefined;
    return {
      module,
      part: rule.part(m),
      style: rule.style,
      ...(realAdapter ? { adapter: realAdapter } : {}),
    };
  }
  return METHOD_HINT?.test(name) ? methodPart(name) : undefined;
}

/** The newer methods' suffixes (methods/*.ts): VeRA, FourierFT, HRA, … */
function methodPart(name: string): TensorPart | undefined {
  for (const rule of METHOD_PART_RULES) {
    const m = rule.re.exec(name);
    const module = m?.[1];
    if (!m || !module) continue;
    const adapter = m.groups?.['adapter'];
    const part = typeof rule.part === 'string' ? rule.part : rule.part(m);
    return { module, part, style: 'peft', ...(adapter && adapter !== 'weight' ? { adapter } : {}) };
  }
  return undefined;
}

/**
 * The module a tensor belongs to, for grouping A/B/alpha/magnitude together in a tree. Undefined for
 * tensors with no adapter suffix (they stay where their own path puts them).
 */
export function loraModuleOf(name: string): string | undefined {
  return tensorPart(name)?.module;
}
