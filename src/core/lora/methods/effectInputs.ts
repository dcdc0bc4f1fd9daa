/** The EffectInputs of one module over an open adapter: tensors read whole, as float64. */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { readFloat64 } from '../../formats/quant/readFloat.js';
import type { LoraModule } from '../types.js';
import { methodById } from './registry.js';
import type { EffectInputs, MethodId, ModuleEffect } from './types.js';

export function effectInputs(adapter: Checkpoint, weightShape: readonly number[]): EffectInputs {
  return {
    read: (name) => readFloat64(adapter, name),
    tensor: (name) => adapter.tensor(name),
    weightShape,
  };
}

/** True when the module's method computes its own effect (everything but the plain LoRA pair). */
export function hasEffect(m: LoraModule): boolean {
  const id = m.method?.id;
  if (!id) return false;
  // AdaLoRA rides the pair path's shapes but has its own effect.
  return methodById(id as MethodId).effect !== undefined;
}

export async function moduleEffect(m: LoraModule, io: EffectInputs): Promise<ModuleEffect> {
  const method = methodById(m.method?.id as MethodId);
  if (!method.effect) throw new Error(`${method.label} has no effect of its own`);
  return method.effect(m, io);
}
