/**
 * What the restricted unpickler builds. Nothing here has behaviour: Python objects become inert
 * data, dicts become Maps (attacker-chosen keys never reach an object prototype), and the only
 * "callables" are the allowlisted globals of allowedGlobals.ts.
 */
import type { TorchDtype } from './torchDtypes.js';

/** A Python tuple. Kept apart from lists: torch's rebuild arguments must be tuples. */
export class PyTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

export type DictKind = 'dict' | 'OrderedDict' | 'Counter';

/** dict, collections.OrderedDict or collections.Counter, in insertion order. */
export class PyDict {
  readonly map = new Map<PickleValue, PickleValue>();
  constructor(readonly kind: DictKind) {}
}

export class PySet {
  readonly items: PickleValue[] = [];
  constructor(readonly frozen: boolean) {}
}

/** bytes / bytearray: only the length is kept, nothing reads the content. */
export class PyBytes {
  constructor(readonly length: number) {}
}

export class PyComplex {
  constructor(
    readonly real: number,
    readonly imag: number,
  ) {}
}

/** A value shown as text: torch.device('cuda:0'), a layout, a quantization scheme. */
export class PyLabel {
  constructor(readonly text: string) {}
}

/** A storage named by a persistent id: `data/<key>` in the archive. */
export class TorchStorage {
  constructor(
    readonly key: string,
    /** The storage class's element type; UNTYPED_STORAGE_DTYPE (bytes) for UntypedStorage. */
    readonly dtype: TorchDtype,
    readonly location: string,
    /** Elements of `dtype` (bytes for an UntypedStorage), as pickled. */
    readonly numel: number,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2/_v3` describe it: a view into a storage. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly dtype: TorchDtype,
    /** In elements of `dtype`. */
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly isParameter: boolean,
  ) {}
}

/** An allowlisted global (`module.name`), resolved when the GLOBAL opcode is read. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly def: GlobalDef,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

export type GlobalDef =
  | {
      readonly kind: 'callable';
      /** A class may be used by NEWOBJ; a function only by REDUCE. */
      readonly isClass: boolean;
      readonly call: (args: readonly PickleValue[], at: CallSite) => PickleValue;
    }
  | { readonly kind: 'dtype'; readonly dtype: TorchDtype }
  | { readonly kind: 'storage'; readonly dtype: TorchDtype }
  | { readonly kind: 'label' };

/** Where a call happens, for messages. */
export interface CallSite {
  readonly offset: number;
  readonly record: string;
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyBytes
  | PyComplex
  | PyLabel
  | PyGlobal
  | TorchStorage
  | TorchTensor;

/** A short description of a value's type for messages ("a list", "a tensor"). */
export function describeValue(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'boolean':
      return 'a bool';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'string':
      return 'a string';
  }
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyDict) return v.kind === 'dict' ? 'a dict' : `a ${v.kind}`;
  if (v instanceof PySet) return v.frozen ? 'a frozenset' : 'a set';
  if (v instanceof PyBytes) return 'bytes';
  if (v instanceof PyComplex) return 'a complex number';
  if (v instanceof PyLabel) return `the value ${v.text}`;
  if (v instanceof PyGlobal) return `the global ${v.fullName}`;
  if (v instanceof TorchStorage) return 'a storage';
  return 'a tensor';
}
