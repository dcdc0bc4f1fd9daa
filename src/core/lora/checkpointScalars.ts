import type { Checkpoint } from '../formats/checkpoint.js';
import { decodeValues } from '../formats/decode.js';
import { isDType } from '../formats/dtypes.js';
import { CheckpointError } from '../formats/errors.js';

/** Reads one-element tensors (per-module `.alpha`) for analyzeLora: a few bytes each, nothing else. */
export function scalarReader(ckpt: Checkpoint): (name: string) => Promise<number> {
  return async (name) => {
    const t = ckpt.tensor(name);
    if (t.parameterCount !== 1 || !isDType(t.dtype)) {
      throw new CheckpointError(
        'UnsupportedDtype',
        `"${name}" is not a single ${t.dtype} value`,
        name,
      );
    }
    const v = decodeValues(await ckpt.readTensorBytes(t), t.dtype)[0];
    if (v === undefined)
      throw new CheckpointError('TensorNotFound', `"${name}" holds no value`, name);
    return v;
  };
}
