/**
 * Hand-assembled pickles for tests and the bench: each helper returns the bytes of one or a few
 * opcodes, and `pickle(...)` joins them.
 */
type Part = Uint8Array | readonly number[];

export function pickle(...parts: Part[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.byteLength;
  }
  return out;
}

const ascii = (s: string) => [...Buffer.from(s, 'utf8')];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

export const P = {
  proto: (n = 2) => [0x80, n],
  frame: (n: number) => [0x95, ...u32(n), 0, 0, 0, 0],
  stop: [0x2e],
  mark: [0x28],
  none: [0x4e],
  true: [0x88],
  false: [0x89],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  emptyTuple: [0x29],
  emptySet: [0x8f],
  dict: [0x64],
  list: [0x6c],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  tuple3: [0x87],
  frozenset: [0x91],
  additems: [0x90],
  append: [0x61],
  appends: [0x65],
  setitem: [0x73],
  setitems: [0x75],
  reduce: [0x52],
  newobj: [0x81],
  build: [0x62],
  binpersid: [0x51],
  stackGlobal: [0x93],
  memoize: [0x94],
  binput: (i: number) => [0x71, i],
  binget: (i: number) => [0x68, i],
  longBinget: (i: number) => [0x6a, ...u32(i)],
  str: (s: string) => {
    const b = ascii(s);
    return [0x58, ...u32(b.length), ...b];
  },
  shortStr: (s: string) => {
    const b = ascii(s);
    return [0x8c, b.length, ...b];
  },
  shortBytes: (n: number) => [0x43, n, ...new Array<number>(n).fill(7)],
  global: (module: string, name: string) => [0x63, ...ascii(module), 0x0a, ...ascii(name), 0x0a],
  int: (n: number): number[] => {
    if (n >= 0 && n < 256) return [0x4b, n];
    if (n >= 0 && n < 65536) return [0x4d, n & 0xff, n >> 8];
    return [0x4a, ...u32(n >>> 0)];
  },
  long1: (n: bigint): number[] => {
    const bytes: number[] = [];
    let v = n;
    for (;;) {
      bytes.push(Number(v & 0xffn));
      v >>= 8n;
      const sign = (bytes[bytes.length - 1] as number) & 0x80;
      if ((v === 0n && !sign) || (v === -1n && sign)) break;
    }
    return [0x8a, bytes.length, ...bytes];
  },
  float: (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return [0x47, ...b];
  },
};

/** A tuple of small non-negative integers: MARK ints TUPLE. */
export function intTuple(values: readonly number[]): number[] {
  return [...P.mark, ...values.flatMap((v) => P.int(v)), ...P.tuple];
}

export interface TensorSpec {
  readonly key: string;
  /** torch storage class: FloatStorage, BFloat16Storage, UntypedStorage, … */
  readonly storageClass?: string;
  readonly numel: number;
  readonly offset?: number;
  readonly shape: readonly number[];
  readonly stride?: readonly number[];
  readonly location?: string;
  /** torch dtype name for _rebuild_tensor_v3 (then the storage is UntypedStorage, numel in bytes). */
  readonly v3Dtype?: string;
}

function rowMajor(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--)
    stride[i] = (stride[i + 1] as number) * (shape[i + 1] as number);
  return stride;
}

/** The opcodes torch.save writes for one tensor (protocol 2). */
export function tensorOps(t: TensorSpec): number[] {
  const storageClass = t.v3Dtype ? 'UntypedStorage' : (t.storageClass ?? 'FloatStorage');
  const storageModule = storageClass === 'UntypedStorage' ? 'torch.storage' : 'torch';
  return [
    ...P.global('torch._utils', t.v3Dtype ? '_rebuild_tensor_v3' : '_rebuild_tensor_v2'),
    ...P.mark,
    ...P.mark,
    ...P.str('storage'),
    ...P.global(storageModule, storageClass),
    ...P.str(t.key),
    ...P.str(t.location ?? 'cpu'),
    ...P.int(t.numel),
    ...P.tuple,
    ...P.binpersid,
    ...P.int(t.offset ?? 0),
    ...intTuple(t.shape),
    ...intTuple(t.stride ?? rowMajor(t.shape)),
    ...P.false,
    ...P.global('collections', 'OrderedDict'),
    ...P.emptyTuple,
    ...P.reduce,
    ...(t.v3Dtype ? P.global('torch', t.v3Dtype) : []),
    ...P.tuple,
    ...P.reduce,
  ];
}

/** `{key: value, …}` as EMPTY_DICT MARK … SETITEMS; values are opcode lists. */
export function dictOps(entries: readonly (readonly [string, readonly number[]])[]): number[] {
  if (entries.length === 0) return [...P.emptyDict];
  return [
    ...P.emptyDict,
    ...P.mark,
    ...entries.flatMap(([k, v]) => [...P.str(k), ...v]),
    ...P.setitems,
  ];
}

/** A whole data.pkl: PROTO 2, the object, STOP. */
export function dataPkl(object: readonly number[]): Uint8Array {
  return pickle(P.proto(2), object, P.stop);
}
