/** The EffectInputs of one module over an open adapter: tensors read whole, as float64. */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { decodeValues } from '../../formats/decode.js';
import { isDType } from '../../formats/dtypes.js';
import { CheckpointError } from '../../formats/errors.js';
import { readFloat64 } from '../../formats/quant/readFloat.js';
import type { LoraModule } from '../types.js';
import { methodById } from './registry.js';
import type { EffectInputs, MethodId, ModuleEffect } from './types.js';

export function effectInputs(adapter: Checkpoint, weightShape: readonly number[]): EffectInputs {
  return {
    read: (name) => readFloat64(adapter, name),
    readIndices: (name) => readIndices(adapter, name),
    tensor: (name) => adapter.tensor(name),
    weightShape,
  };
}

/** Integer dtypes an index tensor may have (PEFT saves VB-LoRA's top-k indices as U8 or I64). */
export const INDEX_DTYPES: ReadonlySet<string> = new Set([
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'I32',
  'U64',
  'I64',
]);

/** Can this tensor be read as indices? A reason when it cannot. */
export function indexReadable(t: { readonly name: string; readonly dtype: string }): true | string {
  return INDEX_DTYPES.has(t.dtype) ? true : `${t.name} is ${t.dtype}, not an integer index tensor`;
}

async function readIndices(adapter: Checkpoint, name: string): Promise<Float64Array> {
  const t = adapter.tensor(name);
  const ok = indexReadable(t);
  if (ok !== true || !isDType(t.dtype))
    throw new CheckpointError('InvalidExport', ok as string, name);
  // 64-bit indices past 2^53 would round; an index that large cannot address any bank anyway and
  // the method's own range check refuses it.
  return decodeValues(await adapter.readTensorBytes(t), t.dtype);
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
