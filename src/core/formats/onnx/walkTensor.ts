import { CheckpointError } from '../errors.js';
import { DOUBLE_DATA, FLOAT_DATA, STRING_DATA, TYPED_DATA_FIELDS } from './dataTypes.js';
import { LIMITS } from './limits.js';
import {
  ProtoReader,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
  expectWire,
  int64,
  packedVarints,
  type Field,
} from './wire.js';

/** A TensorProto as walked: where its data is, never the data itself. */
export interface InitializerRecord {
  name: string;
  dataType: number;
  dims: number[];
  /** The TensorProto message's payload, to decode typed fields from on demand. */
  messageStart: number;
  messageEnd: number;
  /** Absolute range of raw_data in the file. */
  raw?: { offset: number; length: number };
  /** The typed data field used (float_data, int32_data, …), if any. */
  typedField?: number;
  /** Entries whose count is known without decoding: fixed-width values, unpacked values, strings. */
  typedEntries: number;
  /** Bytes of packed varint payloads: each entry takes 1 to 10 of them. */
  typedVarintBytes: number;
  /** Bytes of string_data. */
  stringBytes: number;
  dataLocation: number;
  external: [string, string][];
  segmented: boolean;
}

// TensorProto field numbers (onnx/onnx.proto).
const TENSOR = {
  dims: 1,
  dataType: 2,
  segment: 3,
  name: 8,
  rawData: 9,
  externalData: 13,
  dataLocation: 14,
};

const invalid = (message: string) => new CheckpointError('InvalidOnnx', message);

/** Reads a StringStringEntryProto ending at `end`. */
export async function readStringEntry(r: ProtoReader, end: number): Promise<[string, string]> {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const f = await r.next(end);
    if (f.number === 1) key = await r.string(f, LIMITS.stringBytes, 'StringStringEntryProto.key');
    else if (f.number === 2) {
      value = await r.string(f, LIMITS.stringBytes, 'StringStringEntryProto.value');
    } else r.skip(f);
  }
  return [key, value];
}

/** Walks one TensorProto ending at `end`, skipping raw_data and typed values by offset. */
export async function walkTensor(r: ProtoReader, end: number): Promise<InitializerRecord> {
  const t: InitializerRecord = {
    name: '',
    dataType: 0,
    dims: [],
    messageStart: r.pos,
    messageEnd: end,
    typedEntries: 0,
    typedVarintBytes: 0,
    stringBytes: 0,
    dataLocation: 0,
    external: [],
    segmented: false,
  };
  while (r.pos < end) {
    const f = await r.next(end);
    switch (f.number) {
      case TENSOR.dims:
        await readDims(r, f, t.dims);
        break;
      case TENSOR.dataType:
        expectWire(f, WIRE_VARINT, 'TensorProto.data_type');
        t.dataType = Number(BigInt.asIntN(32, f.value));
        break;
      case TENSOR.segment:
        t.segmented = true;
        r.skip(f);
        break;
      case TENSOR.name:
        t.name = await r.string(f, LIMITS.stringBytes, 'TensorProto.name');
        break;
      case TENSOR.rawData:
        expectWire(f, WIRE_LEN, 'TensorProto.raw_data');
        // Protobuf keeps the last of repeated singular fields; so do we.
        t.raw = { offset: r.pos, length: f.length };
        r.skip(f);
        break;
      case TENSOR.externalData:
        expectWire(f, WIRE_LEN, 'TensorProto.external_data');
        if (t.external.length >= LIMITS.externalEntries) {
          throw new CheckpointError(
            'LimitExceeded',
            `tensor "${t.name}" has over ${LIMITS.externalEntries} external_data entries`,
          );
        }
        t.external.push(await readStringEntry(r, r.pos + f.length));
        break;
      case TENSOR.dataLocation:
        expectWire(f, WIRE_VARINT, 'TensorProto.data_location');
        t.dataLocation = Number(BigInt.asIntN(32, f.value));
        break;
      default:
        if (TYPED_DATA_FIELDS.has(f.number)) countTypedValues(t, f);
        r.skip(f);
    }
  }
  return t;
}

async function readDims(r: ProtoReader, f: Field, dims: number[]): Promise<void> {
  const add = (value: bigint) => {
    if (dims.length >= LIMITS.dims) {
      throw new CheckpointError('LimitExceeded', `a tensor has over ${LIMITS.dims} dimensions`);
    }
    const dim = int64(value, 'a tensor dimension');
    if (dim < 0) throw invalid(`a tensor has the negative dimension ${dim}`);
    dims.push(dim);
  };
  if (f.wire === WIRE_VARINT) return add(f.value);
  // Packed: at most 10 bytes per dimension.
  const payload = await r.bytes(f, LIMITS.dims * 10, 'TensorProto.dims');
  for (const value of packedVarints(payload, 'TensorProto.dims')) add(value);
}

/** Counts a typed-field occurrence, packed or not, so sizes can be checked without decoding. */
function countTypedValues(t: InitializerRecord, f: Field): void {
  if (t.typedField !== undefined && t.typedField !== f.number) {
    throw invalid(
      `tensor "${t.name}" has values in two typed fields (${t.typedField} and ${f.number})`,
    );
  }
  t.typedField = f.number;
  if (f.number === STRING_DATA) {
    expectWire(f, WIRE_LEN, 'TensorProto.string_data');
    t.typedEntries++;
    t.stringBytes += f.length;
    return;
  }
  const width = f.number === FLOAT_DATA ? 4 : f.number === DOUBLE_DATA ? 8 : 0;
  if (f.wire === WIRE_LEN) {
    if (width === 0) t.typedVarintBytes += f.length;
    else if (f.length % width !== 0) {
      throw invalid(`tensor "${t.name}": packed field ${f.number} is not a whole number of values`);
    } else t.typedEntries += f.length / width;
    return;
  }
  const expected = width === 4 ? WIRE_I32 : width === 8 ? WIRE_I64 : WIRE_VARINT;
  expectWire(f, expected, `TensorProto field ${f.number}`);
  t.typedEntries++;
}
