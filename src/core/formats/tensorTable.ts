import { summarizeDtypes, type DtypeStats, type TensorInfo } from './checkpoint.js';
import { CheckpointError } from './errors.js';

/** The totals every checkpoint reports, computed once from its tensors. */
export interface TensorTotals {
  readonly parameterCount: number;
  readonly dataBytes: number;
  readonly dtypes: readonly DtypeStats[];
}

export function tensorTotals(tensors: readonly TensorInfo[]): TensorTotals {
  let parameterCount = 0;
  let dataBytes = 0;
  // Indexed, not for…of: this runs once per open, mostly unoptimised, where for…of allocates per step.
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as TensorInfo;
    parameterCount += t.parameterCount;
    dataBytes += t.byteLength;
  }
  return { parameterCount, dataBytes, dtypes: summarizeDtypes(tensors) };
}

/** Lookup by name, built on first use, with the crate's TensorNotFound error. */
export class TensorIndex<T extends TensorInfo = TensorInfo> {
  private byName: Map<string, T> | undefined;
  constructor(private readonly tensors: readonly T[]) {}

  get(name: string): T {
    this.byName ??= new Map(this.tensors.map((t) => [t.name, t]));
    const t = this.byName.get(name);
    if (!t) throw new CheckpointError('TensorNotFound', `tensor "${name}" not found`, name);
    return t;
  }
}
