/**
 * torch dtypes and storage classes, as they appear as pickle globals (`torch.float16`,
 * `torch.HalfStorage`), mapped to safetensors dtype names where one exists.
 */
export interface TorchDtype {
  /** torch's own name: float32, bfloat16, float8_e4m3fn, … */
  readonly torchName: string;
  /** The safetensors name (F32, BF16, F8_E4M3, …), or torch's name when safetensors has none. */
  readonly name: string;
  readonly itemSize: number;
  /** Bytes to reverse when a big-endian file is read: a complex number swaps each half. */
  readonly swapUnit: number;
}

function dtype(torchName: string, name: string, itemSize: number, swapUnit = itemSize): TorchDtype {
  return { torchName, name, itemSize, swapUnit };
}

const CANONICAL: readonly TorchDtype[] = [
  dtype('float64', 'F64', 8),
  dtype('float32', 'F32', 4),
  dtype('float16', 'F16', 2),
  dtype('bfloat16', 'BF16', 2),
  dtype('int64', 'I64', 8),
  dtype('int32', 'I32', 4),
  dtype('int16', 'I16', 2),
  dtype('int8', 'I8', 1),
  dtype('uint8', 'U8', 1),
  dtype('uint16', 'U16', 2),
  dtype('uint32', 'U32', 4),
  dtype('uint64', 'U64', 8),
  dtype('bool', 'BOOL', 1),
  dtype('complex64', 'C64', 8, 4),
  dtype('complex128', 'complex128', 16, 8),
  dtype('complex32', 'complex32', 4, 2),
  dtype('float8_e4m3fn', 'F8_E4M3', 1),
  dtype('float8_e5m2', 'F8_E5M2', 1),
  dtype('float8_e4m3fnuz', 'F8_E4M3FNUZ', 1),
  dtype('float8_e5m2fnuz', 'F8_E5M2FNUZ', 1),
  dtype('float8_e8m0fnu', 'F8_E8M0', 1),
  // Packed or quantized types: listed so a file that uses them opens; their bytes are raw.
  dtype('float4_e2m1fn_x2', 'float4_e2m1fn_x2', 1),
  dtype('qint8', 'qint8', 1),
  dtype('quint8', 'quint8', 1),
  dtype('qint32', 'qint32', 4),
  dtype('quint4x2', 'quint4x2', 1),
  dtype('quint2x4', 'quint2x4', 1),
  dtype('bits1x8', 'bits1x8', 1),
  dtype('bits2x4', 'bits2x4', 1),
  dtype('bits4x2', 'bits4x2', 1),
  dtype('bits8', 'bits8', 1),
  dtype('bits16', 'bits16', 2),
];

const ALIASES: Readonly<Record<string, string>> = {
  double: 'float64',
  float: 'float32',
  half: 'float16',
  long: 'int64',
  int: 'int32',
  short: 'int16',
  cfloat: 'complex64',
  cdouble: 'complex128',
  chalf: 'complex32',
};

const BY_TORCH_NAME = new Map<string, TorchDtype>(CANONICAL.map((d) => [d.torchName, d]));

/** `torch.<name>` as a dtype, or undefined when `name` is not one. */
export function torchDtype(name: string): TorchDtype | undefined {
  return BY_TORCH_NAME.get(Object.hasOwn(ALIASES, name) ? (ALIASES[name] as string) : name);
}

/** Legacy typed storage classes (torch/storage.py), keyed by class name. */
const STORAGE_DTYPES: Readonly<Record<string, string>> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
};

/** The bytes of an UntypedStorage: its numel counts bytes. */
export const UNTYPED_STORAGE_DTYPE: TorchDtype = dtype('uint8', 'U8', 1);

/**
 * The element type of a storage class named in a persistent id: `torch.FloatStorage`,
 * `torch.cuda.HalfStorage` (old GPU files), `torch.storage.UntypedStorage`. Undefined when the
 * global is not a storage class.
 */
export function storageClassDtype(module: string, name: string): TorchDtype | undefined {
  if (name === 'UntypedStorage' && (module === 'torch' || module === 'torch.storage'))
    return UNTYPED_STORAGE_DTYPE;
  if (module !== 'torch' && module !== 'torch.cuda') return undefined;
  if (!Object.hasOwn(STORAGE_DTYPES, name)) return undefined;
  return BY_TORCH_NAME.get(STORAGE_DTYPES[name] as string);
}
