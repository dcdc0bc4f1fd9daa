import type { ElementRange, TensorInfo } from './checkpoint.js';
import { DTYPE_BITS, isDType } from './dtypes.js';
import { CheckpointError } from './errors.js';

/** The byte range, inside the tensor's file, of `range` elements (or of the whole tensor). */
export function byteRangeOf(
  tensor: TensorInfo,
  range?: ElementRange,
): { offset: number; length: number } {
  if (tensor.offset < 0) {
    throw new CheckpointError(
      'UnsupportedFormat',
      `the data of tensor "${tensor.name}" is not one contiguous byte range`,
      tensor.name,
    );
  }
  if (!range) return { offset: tensor.offset, length: tensor.byteLength };
  const { start, count } = range;
  const ok = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!ok(start) || !ok(count) || start + count > tensor.parameterCount) {
    throw new CheckpointError(
      'InvalidRange',
      `elements ${start}..${start + count} are outside tensor "${tensor.name}" (${tensor.parameterCount} elements)`,
      tensor.name,
    );
  }
  if (!isDType(tensor.dtype)) {
    throw new CheckpointError(
      'UnsupportedDtype',
      `element ranges of ${tensor.dtype} tensors are not supported; read the whole tensor`,
      tensor.name,
    );
  }
  const bits = DTYPE_BITS[tensor.dtype];
  if ((start * bits) % 8 !== 0 || (count * bits) % 8 !== 0) {
    throw new CheckpointError(
      'MisalignedSlice',
      `elements ${start}..${start + count} of ${tensor.dtype} tensor "${tensor.name}" do not start and end on byte boundaries`,
      tensor.name,
    );
  }
  return { offset: tensor.offset + (start * bits) / 8, length: (count * bits) / 8 };
}
