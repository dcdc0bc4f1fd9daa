/**
 * How an output module is named and how its scale is kept, in the source adapter's own convention:
 * PEFT names with an adapter_config.json whose r / lora_alpha / rank_pattern / alpha_pattern give
 * each module alpha = scale·rank; kohya / LyCORIS names with a per-module `.alpha` tensor rewritten the
 * way kohya's resize_lora.py writes it (alpha = scale·new rank); families whose loaders apply no scale
 * get the scale folded into B.
 */
import { peftSaveName } from '../export/extract.js';
import type { LoraAnalysis, LoraFamily, LoraModule } from '../lora/types.js';
import { SurgeryError } from './errors.js';

export type ScaleStyle = 'peft-config' | 'alpha-tensor' | 'folded';

export const STYLE_TEXT: Record<ScaleStyle, string> = {
  'peft-config':
    'adapter_config.json: r / lora_alpha and rank_pattern / alpha_pattern give each module alpha = scale·rank (use_rslora off)',
  'alpha-tensor': 'per-module alpha tensors rewritten as kohya does: alpha = scale·new rank',
  folded: 'scale folded into B (the family loads without a scale)',
};

const KOHYA_NAMES: ReadonlySet<LoraFamily> = new Set(['kohya', 'lycoris']);
const PAIR_NAMED: ReadonlySet<LoraFamily> = new Set(['diffusers', 'bfl', 'xlabs', 'unknown']);

/** The scale style for a whole adapter, or a named refusal. */
export function scaleStyle(analysis: LoraAnalysis, label: string): ScaleStyle {
  const family = analysis.family;
  if (family === 'peft') return 'peft-config';
  if (KOHYA_NAMES.has(family)) return 'alpha-tensor';
  if (PAIR_NAMED.has(family)) {
    const ms = analysis.modules;
    if (ms.every((m) => m.parts['alpha'] !== undefined)) return 'alpha-tensor';
    if (ms.every((m) => m.alphaOrigin === 'scale-1' || m.alphaOrigin === 'default-rank'))
      return 'folded';
  }
  throw new SurgeryError(
    'UnsupportedFamily',
    `${label}: ${analysis.familyLabel} adapters cannot be written back with their scale kept (supported: PEFT, kohya / LyCORIS, and pair-named families with alpha tensors or no scale)`,
    label,
  );
}

export interface ModuleNames {
  readonly down: string;
  readonly up: string;
  readonly alpha?: string;
  readonly magnitude?: string;
}

/**
 * Output tensor names for module `m`. A plain pair keeps its own names (PEFT as save_pretrained
 * writes them); a converted module (LoHa, LoKr, …) gets the convention's LoRA names.
 */
export function moduleNames(
  m: LoraModule,
  style: ScaleStyle,
  family: LoraFamily,
  converted: boolean,
): ModuleNames {
  const peft = style === 'peft-config';
  const rename = (n: string): string => (peft ? peftSaveName(n, m.adapter ?? 'default') : n);
  let down = m.parts['down'];
  let up = m.parts['up'];
  if (converted || !down || !up) {
    if (peft) {
      const prefix = rename(m.name);
      down = `${prefix}.lora_A.weight`;
      up = `${prefix}.lora_B.weight`;
    } else if (KOHYA_NAMES.has(family)) {
      down = `${m.name}.lora_down.weight`;
      up = `${m.name}.lora_up.weight`;
    } else
      throw new SurgeryError(
        'UnsupportedFamily',
        `${m.name}: a ${m.method?.label ?? m.kind} module of a ${family} adapter has no LoRA names to be written as`,
        m.name,
      );
  }
  const names: { down: string; up: string; alpha?: string; magnitude?: string } = {
    down: rename(down),
    up: rename(up),
  };
  if (style === 'alpha-tensor') names.alpha = m.parts['alpha'] ?? `${m.name}.alpha`;
  if (m.dora) names.magnitude = rename(m.dora.tensor);
  return names;
}

/** Shapes of the written pair: conv keeps 4-D tensors (A [k, in, kh, kw], B [out, k, 1, 1]). */
export function pairShapes(
  kernel: readonly number[] | null,
  out: number,
  inK: number,
  k: number,
): { down: number[]; up: number[] } {
  if (kernel && kernel.length > 0) {
    const plane = kernel.reduce((a, b) => a * b, 1);
    return { down: [k, inK / plane, ...kernel], up: [out, k, ...kernel.map(() => 1)] };
  }
  return { down: [k, inK], up: [out, k] };
}
