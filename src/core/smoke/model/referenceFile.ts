/**
 * Reference inputs and outputs for the whole-model check: a safetensors file holding
 * `input.<graph input>` and `output.<graph output>` tensors (other names, such as `base.logits`, are
 * ignored). Read with our own safetensors reader; every problem is a named `InvalidReference`.
 */
import type * as Ort from 'onnxruntime-node';
import { decodeValues } from '../../formats/decode.js';
import { isDType } from '../../formats/dtypes.js';
import { openPath } from '../../formats/open.js';
import { SmokeError } from '../types.js';
import type { OrtModule } from './ortValues.js';

export interface ReferenceTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export interface Reference {
  readonly path: string;
  /** By graph input name. */
  readonly inputs: ReadonlyMap<string, ReferenceTensor>;
  /** By graph output name. */
  readonly outputs: ReadonlyMap<string, ReferenceTensor>;
}

/** safetensors dtype → ORT tensor type. */
const ORT_TYPES: Readonly<Record<string, Ort.Tensor.Type>> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U64: 'uint64',
  U32: 'uint32',
  U16: 'uint16',
  U8: 'uint8',
  BOOL: 'bool',
};

const invalid = (path: string, message: string) =>
  new SmokeError('InvalidReference', `reference ${path}: ${message}`);

export async function readReference(path: string): Promise<Reference> {
  let ckpt;
  try {
    ckpt = await openPath(path);
  } catch (e) {
    throw invalid(path, e instanceof Error ? e.message : String(e));
  }
  try {
    if (ckpt.format !== 'safetensors')
      throw invalid(path, `is ${ckpt.format}; a safetensors file is expected`);
    const inputs = new Map<string, ReferenceTensor>();
    const outputs = new Map<string, ReferenceTensor>();
    for (const t of ckpt.tensors) {
      const [kind, ...rest] = t.name.split('.');
      const name = rest.join('.');
      if ((kind !== 'input' && kind !== 'output') || name === '') continue;
      if (!ORT_TYPES[t.dtype])
        throw invalid(path, `${t.name} is ${t.dtype}, which ONNX Runtime cannot take from JS`);
      const bytes = await ckpt.readTensorBytes(t);
      (kind === 'input' ? inputs : outputs).set(name, {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        bytes,
      });
    }
    if (inputs.size === 0) throw invalid(path, 'holds no input.<name> tensor');
    return { path, inputs, outputs };
  } catch (e) {
    if (e instanceof SmokeError) throw e;
    throw invalid(path, e instanceof Error ? e.message : String(e));
  } finally {
    await ckpt.close();
  }
}

/** The reference's inputs must be exactly the model's, with the declared types and fixed dims. */
export function checkReference(
  ref: Reference,
  session: Pick<Ort.InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata'>,
): void {
  const declared = new Set(session.inputNames);
  for (const [name, t] of ref.inputs)
    if (!declared.has(name))
      throw invalid(
        ref.path,
        `${t.name}: the model declares no input "${name}" (its inputs: ${session.inputNames.join(', ')})`,
      );
  for (const name of session.inputNames)
    if (!ref.inputs.has(name)) throw invalid(ref.path, `input.${name} is missing`);
  const outputs = new Set(session.outputNames);
  for (const [name, t] of ref.outputs)
    if (!outputs.has(name))
      throw invalid(
        ref.path,
        `${t.name}: the model declares no output "${name}" (its outputs: ${session.outputNames.join(', ')})`,
      );
  for (const meta of session.inputMetadata ?? []) {
    const t = ref.inputs.get(meta.name);
    if (!t || !meta.isTensor) continue;
    if (ORT_TYPES[t.dtype] !== meta.type)
      throw invalid(ref.path, `${t.name} is ${t.dtype}, the model's input is ${meta.type}`);
    const fixed = meta.shape.length === t.shape.length;
    const clash = meta.shape.findIndex(
      (d, i) => typeof d === 'number' && d >= 0 && d !== t.shape[i],
    );
    if (!fixed || clash >= 0)
      throw invalid(
        ref.path,
        `${t.name} has shape [${t.shape.join(', ')}], the model's input is [${meta.shape.join(', ')}]`,
      );
  }
}

/** The reference tensor as an ORT tensor (a fresh, aligned copy of its bytes). */
export function toOrtTensor(ort: OrtModule, t: ReferenceTensor): Ort.Tensor {
  const type = ORT_TYPES[t.dtype] as Ort.Tensor.Type;
  const buf = t.bytes.slice().buffer;
  const dims = [...t.shape];
  switch (type) {
    case 'float32':
      return new ort.Tensor(type, new Float32Array(buf), dims);
    case 'float64':
      return new ort.Tensor(type, new Float64Array(buf), dims);
    case 'float16':
    case 'uint16':
      return new ort.Tensor(type, new Uint16Array(buf), dims);
    case 'int64':
      return new ort.Tensor(type, new BigInt64Array(buf), dims);
    case 'uint64':
      return new ort.Tensor(type, new BigUint64Array(buf), dims);
    case 'int32':
      return new ort.Tensor(type, new Int32Array(buf), dims);
    case 'uint32':
      return new ort.Tensor(type, new Uint32Array(buf), dims);
    case 'int16':
      return new ort.Tensor(type, new Int16Array(buf), dims);
    case 'int8':
      return new ort.Tensor(type, new Int8Array(buf), dims);
    default:
      return new ort.Tensor(type as 'uint8' | 'bool', new Uint8Array(buf), dims);
  }
}

/** The expected values of a reference output, as doubles. */
export function referenceNumbers(t: ReferenceTensor): Float64Array {
  if (!isDType(t.dtype)) return new Float64Array(0);
  return decodeValues(t.bytes, t.dtype);
}
