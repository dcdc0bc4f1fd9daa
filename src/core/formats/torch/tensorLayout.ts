/**
 * A tensor's place in its storage: element count, contiguity, the element span its strides
 * reach, and gathering a strided view into a contiguous row-major buffer.
 */
import { CheckpointError } from '../errors.js';
import type { TorchTensor } from './pickleValues.js';

export interface TensorLayout {
  readonly numel: number;
  /** Row-major with no gaps (torch's is_contiguous), so one byte range holds it. */
  readonly contiguous: boolean;
  /** Elements of the storage the view touches: [spanStart, spanEnd). Empty for numel 0. */
  readonly spanStart: number;
  readonly spanEnd: number;
}

/** Counts and the span, exactly (BigInt), or a named error when they do not fit a double. */
export function layoutOf(t: TorchTensor, name: string): TensorLayout {
  let numel = 1n;
  for (const d of t.shape) numel *= BigInt(d);
  if (numel > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError(
      'LimitExceeded',
      `tensor "${name}" has shape [${t.shape.join(', ')}]: more elements than LoRA Lens can count exactly`,
      name,
    );
  }
  if (numel === 0n) {
    return { numel: 0, contiguous: true, spanStart: t.storageOffset, spanEnd: t.storageOffset };
  }
  let last = BigInt(t.storageOffset);
  for (let i = 0; i < t.shape.length; i++)
    last += BigInt((t.shape[i] as number) - 1) * BigInt(t.stride[i] as number);
  if (last >= BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError(
      'StorageMismatch',
      `tensor "${name}" reaches element ${last} of its storage, past anything a file can hold`,
      name,
    );
  }
  return {
    numel: Number(numel),
    contiguous: isContiguous(t.shape, t.stride),
    spanStart: t.storageOffset,
    spanEnd: Number(last) + 1,
  };
}

/** torch's rule: sizes of 1 place no constraint on their stride; an empty tensor is contiguous. */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  if (shape.includes(0)) return true;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const size = shape[i] as number;
    if (size !== 1) {
      if (stride[i] !== expected) return false;
      expected *= size;
    }
  }
  return true;
}

/**
 * Copies a strided view out of `span`, the storage bytes from element `layout.spanStart`, into
 * a contiguous row-major buffer. Iterative over the dimensions; the last one is copied as a run
 * when its stride is 1.
 */
export function gatherStrided(span: Uint8Array, t: TorchTensor, layout: TensorLayout): Uint8Array {
  const item = t.dtype.itemSize;
  const out = new Uint8Array(layout.numel * item);
  if (layout.numel === 0) return out;
  const nd = t.shape.length;
  if (nd === 0) {
    out.set(span.subarray(0, item));
    return out;
  }
  const lastDim = nd - 1;
  const n = t.shape[lastDim] as number;
  const s = t.stride[lastDim] as number;
  const idx = new Array<number>(nd).fill(0);
  let base = t.storageOffset - layout.spanStart;
  let o = 0;
  for (;;) {
    if (s === 1) {
      out.set(span.subarray(base * item, (base + n) * item), o);
      o += n * item;
    } else {
      for (let i = 0; i < n; i++) {
        const from = (base + i * s) * item;
        for (let b = 0; b < item; b++) out[o++] = span[from + b] as number;
      }
    }
    let d = lastDim - 1;
    for (; d >= 0; d--) {
      const size = t.shape[d] as number;
      const stride = t.stride[d] as number;
      idx[d] = (idx[d] as number) + 1;
      base += stride;
      if ((idx[d] as number) < size) break;
      base -= stride * size;
      idx[d] = 0;
    }
    if (d < 0) return out;
  }
}

/** Big-endian storages (byteorder "big") to little-endian, in place, `unit` bytes at a time. */
export function swapBytes(bytes: Uint8Array, unit: number): Uint8Array {
  if (unit <= 1) return bytes;
  for (let i = 0; i + unit <= bytes.byteLength; i += unit) bytes.subarray(i, i + unit).reverse();
  return bytes;
}
