import { BFL_PREFIX, DIFFUSERS_COMPONENT, KOHYA_PREFIX, PEFT_PREFIX } from './familyDetection.js';
import type { LoraFamily } from './types.js';

export interface ModuleTarget {
  readonly target: string;
  readonly group?: string;
}

// XLabs processors map onto BFL names: 1 = image stream, 2 = text stream (ComfyUI lora_convert.py).
const XLABS = /^(double_blocks\.\d+)\.processor\.(qkv|proj)_lora([12])$/;

/** The adapted module in the family's own naming, and its group in multi-part files. */
export function targetOf(module: string, family: LoraFamily): ModuleTarget {
  const peftAt = module.indexOf(PEFT_PREFIX);
  if (family === 'peft' && peftAt >= 0)
    return { target: module.slice(peftAt + PEFT_PREFIX.length) };

  const kohya = KOHYA_PREFIX.exec(module);
  if (kohya && (family === 'kohya' || family === 'lycoris'))
    return { target: module, group: kohya[1] };

  if (module.startsWith(BFL_PREFIX) && (family === 'bfl' || family === 'lycoris'))
    return { target: module.slice(BFL_PREFIX.length), group: 'diffusion_model' };

  if (family === 'lycoris' && peftAt >= 0)
    return { target: module.slice(peftAt + PEFT_PREFIX.length) };

  if (family === 'diffusers') {
    const component = DIFFUSERS_COMPONENT.exec(module);
    const path = component ? module.slice(component[0].length) : module;
    return { target: diffusersPath(path), ...(component ? { group: component[1] } : {}) };
  }

  if (family === 'xlabs') {
    const m = XLABS.exec(module);
    if (m) return { target: `${m[1]}.${m[3] === '1' ? 'img' : 'txt'}_attn.${m[2]}` };
  }

  if (family === 'gguf') return { target: module.replace(/\.weight$/, '') };

  if (family === 'lora-diffusion') return { target: module, group: module.split(':')[0] ?? '' };

  return { target: module };
}

/**
 * Old attention-processor names to module paths, as diffusers' state_dict_utils does:
 * `attn1.processor.to_q_lora` → `attn1.to_q`, `to_out_lora` → `to_out.0`, `.lora_linear_layer` and
 * `.lora` (LoRACompatibleLinear) dropped.
 */
function diffusersPath(path: string): string {
  return path
    .replace('.processor.', '.')
    .replace(/\.to_out_lora$/, '.to_out.0')
    .replace(/\.(to_[qkv])_lora$/, '.$1')
    .replace(/\.(?:lora_linear_layer|lora)$/, '');
}

const NUMERIC = /^\d+$/;

/** The module type: `q_proj`, `to_out.0`, `img_attn_qkv` (kohya), for "targets by type". */
export function targetType(target: string, group: string | undefined): string {
  if (target.includes(':')) return group ?? target;
  const flat = group !== undefined && target.startsWith(`${group}_`) && !target.includes('.');
  if (flat) {
    const tokens = target.slice(group.length + 1).split('_');
    let cut = -1;
    tokens.forEach((t, i) => {
      if (NUMERIC.test(t) && i < tokens.length - 1) cut = i;
    });
    return tokens.slice(cut + 1).join('_');
  }
  const parts = target.split('.');
  const last = parts[parts.length - 1] ?? target;
  if (NUMERIC.test(last) && parts.length > 1) return `${parts[parts.length - 2] ?? ''}.${last}`;
  return last;
}

// A numbered child of one of these is a layer / block; `img_mlp.0` or `to_out.0` are not.
const STACK_WORD = /^(h|blk|layers?|blocks?)$/i;

/** The first numbered stack in the target: `model.layers.3.…` → model.layers #3. */
export function layerOf(target: string): { stack: string; index: number } | undefined {
  if (target.includes(':')) return undefined;
  const sep = target.includes('.') ? '.' : '_';
  const parts = target.split(sep);
  // Flattened kohya names split "double_blocks" into tokens: test the token before the number.
  const i = parts.findIndex(
    (p, k) => k > 0 && NUMERIC.test(p) && STACK_WORD.test(lastWord(parts[k - 1] ?? '')),
  );
  if (i < 0) return undefined;
  return { stack: parts.slice(0, i).join(sep), index: Number(parts[i]) };
}

function lastWord(segment: string): string {
  return segment.slice(segment.lastIndexOf('_') + 1);
}
