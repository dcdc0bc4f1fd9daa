/**
 * The torch._utils rebuild functions, re-implemented as argument checks that build a
 * TorchTensor descriptor. No tensor data is touched here.
 */
import { CheckpointError } from '../errors.js';
import {
  PyDict,
  PyGlobal,
  PyTuple,
  TorchStorage,
  TorchTensor,
  describeValue,
  type CallSite,
  type PickleValue,
} from './pickleValues.js';
import type { TorchDtype } from './torchDtypes.js';

function bad(fn: string, what: string, at: CallSite): CheckpointError {
  return new CheckpointError(
    'InvalidPickle',
    `invalid call to ${fn} at byte ${at.offset} of ${at.record}: ${what}`,
  );
}

function arg(args: readonly PickleValue[], i: number): PickleValue {
  return i < args.length ? (args[i] as PickleValue) : null;
}

function index(v: PickleValue): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

/** A torch.Size or stride: a tuple (or list) of non-negative integers. */
function intTuple(v: PickleValue, fn: string, what: string, at: CallSite): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items) throw bad(fn, `${what} must be a tuple of integers, not ${describeValue(v)}`, at);
  if (items.length > 64) throw bad(fn, `${what} has ${items.length} dimensions (at most 64)`, at);
  return items.map((x) => {
    const n = index(x);
    if (n === undefined)
      throw bad(fn, `${what} holds ${describeValue(x)}, not a non-negative integer`, at);
    return n;
  });
}

function viewOf(
  fn: string,
  args: readonly PickleValue[],
  dtype: TorchDtype | undefined,
  at: CallSite,
): TorchTensor {
  const storage = arg(args, 0);
  if (!(storage instanceof TorchStorage))
    throw bad(fn, `the first argument must be a storage, not ${describeValue(storage)}`, at);
  const offset = index(arg(args, 1));
  if (offset === undefined) throw bad(fn, 'the storage offset must be a non-negative integer', at);
  const shape = intTuple(arg(args, 2), fn, 'the size', at);
  const stride = intTuple(arg(args, 3), fn, 'the stride', at);
  if (shape.length !== stride.length) {
    throw bad(fn, `the size has ${shape.length} dimensions but the stride ${stride.length}`, at);
  }
  return new TorchTensor(storage, dtype ?? storage.dtype, offset, shape, stride, false);
}

/** _rebuild_tensor(storage, storage_offset, size, stride) */
export function rebuildTensorV1(args: readonly PickleValue[], at: CallSite): TorchTensor {
  return viewOf('torch._utils._rebuild_tensor', args, undefined, at);
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
export function rebuildTensorV2(args: readonly PickleValue[], at: CallSite): TorchTensor {
  return viewOf('torch._utils._rebuild_tensor_v2', args, undefined, at);
}

/**
 * _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata]):
 * for dtypes without a legacy storage class (float8, uint16, …); the storage is an UntypedStorage.
 */
export function rebuildTensorV3(args: readonly PickleValue[], at: CallSite): TorchTensor {
  const fn = 'torch._utils._rebuild_tensor_v3';
  const dtype = arg(args, 6);
  if (!(dtype instanceof PyGlobal) || dtype.def.kind !== 'dtype')
    throw bad(fn, `the dtype argument must be a torch dtype, not ${describeValue(dtype)}`, at);
  return viewOf(fn, args, dtype.def.dtype, at);
}

function asParameter(fn: string, data: PickleValue, at: CallSite): TorchTensor {
  if (!(data instanceof TorchTensor))
    throw bad(fn, `the data must be a tensor, not ${describeValue(data)}`, at);
  const t = data;
  return new TorchTensor(t.storage, t.dtype, t.storageOffset, t.shape, t.stride, true);
}

/** _rebuild_parameter(data, requires_grad, backward_hooks) and the _with_state variant. */
export function rebuildParameter(args: readonly PickleValue[], at: CallSite): TorchTensor {
  return asParameter('torch._utils._rebuild_parameter', arg(args, 0), at);
}

/** Parameter(data, requires_grad) through NEWOBJ. */
export function newParameter(args: readonly PickleValue[], at: CallSite): TorchTensor {
  return asParameter('torch.nn.parameter.Parameter', arg(args, 0), at);
}

/**
 * torch._tensor._rebuild_from_type_v2(func, new_type, args, state): how tensors with a Python
 * subclass or attributes are saved. `func` must itself be an allowlisted rebuild function and
 * `new_type` torch.Tensor or Parameter; the state (attributes) is ignored.
 */
export function rebuildFromTypeV2(args: readonly PickleValue[], at: CallSite): PickleValue {
  const fn = 'torch._tensor._rebuild_from_type_v2';
  const func = arg(args, 0);
  const newType = arg(args, 1);
  const inner = arg(args, 2);
  if (!(func instanceof PyGlobal) || func.def.kind !== 'callable' || func.def.isClass)
    throw bad(fn, `the function must be a rebuild function, not ${describeValue(func)}`, at);
  if (!(newType instanceof PyGlobal) || !TENSOR_CLASSES.has(newType.fullName)) {
    throw bad(
      fn,
      `the type must be torch.Tensor or torch.nn.parameter.Parameter, not ${describeValue(newType)}`,
      at,
    );
  }
  if (!(inner instanceof PyTuple))
    throw bad(fn, `the arguments must be a tuple, not ${describeValue(inner)}`, at);
  const state = arg(args, 3);
  if (state !== null && !(state instanceof PyDict) && !(state instanceof PyTuple))
    throw bad(fn, `the state must be a dict, not ${describeValue(state)}`, at);
  const result = func.def.call(inner.items, at);
  if (!(result instanceof TorchTensor))
    throw bad(fn, `the function built ${describeValue(result)}, not a tensor`, at);
  return newType.name === 'Parameter' ? asParameter(fn, result, at) : result;
}

export const TENSOR_CLASSES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);
