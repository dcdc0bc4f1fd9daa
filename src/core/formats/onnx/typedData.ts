import type { ByteSource } from '../byteSource.js';
import { CheckpointError } from '../errors.js';
import {
  DOUBLE_DATA,
  FLOAT_DATA,
  INT64_DATA,
  UINT64_DATA,
  typedEntryCount,
  type OnnxDataType,
} from './dataTypes.js';
import { LIMITS } from './limits.js';
import type { InitializerRecord } from './walkTensor.js';
import { ProtoReader, WIRE_LEN, WIRE_VARINT, packedVarints } from './wire.js';

/** Writes typed-field entries as the little-endian bytes raw_data would hold. */
class EntryWriter {
  readonly out: Uint8Array;
  private readonly view: DataView;
  count = 0;

  constructor(
    private readonly type: OnnxDataType,
    byteLength: number,
    readonly expected: number,
    private readonly name: string,
  ) {
    this.out = new Uint8Array(byteLength);
    this.view = new DataView(this.out.buffer);
  }

  private next(): number {
    if (this.count >= this.expected) {
      throw new CheckpointError(
        'InvalidOnnx',
        `tensor "${this.name}" holds more typed values than its shape needs (${this.expected})`,
        this.name,
      );
    }
    return this.count++;
  }

  /** float_data / double_data: already little-endian IEEE values. */
  fixed(bytes: Uint8Array, width: number): void {
    for (let i = 0; i + width <= bytes.length; i += width) {
      this.out.set(bytes.subarray(i, i + width), this.next() * width);
    }
  }

  varint(value: bigint, field: number): void {
    const k = this.next();
    const { bits, code } = this.type;
    if (field === INT64_DATA || (field === UINT64_DATA && code === 13)) {
      this.view.setBigUint64(k * 8, value, true);
    } else if (bits === 32) {
      this.view.setUint32(k * 4, Number(value & 0xffffffffn), true);
    } else if (bits === 16) {
      this.view.setUint16(k * 2, Number(value & 0xffffn), true);
    } else if (bits === 6) {
      // One 6-bit value per entry, packed LSB first as raw_data holds them.
      const v = Number(value & 0x3fn);
      const bit = k * 6;
      const at = bit >> 3;
      const shift = bit & 7;
      this.out[at] = ((this.out[at] as number) | (v << shift)) & 0xff;
      if (shift > 2) this.out[at + 1] = (this.out[at + 1] as number) | (v >> (8 - shift));
    } else {
      // 8-bit values, or one byte of two 4-bit / four 2-bit values.
      this.out[k] = Number(value & 0xffn);
    }
  }
}

/**
 * Decodes a tensor held in a typed field (float_data, int32_data, …) into the bytes raw_data would
 * hold. Re-walks only that TensorProto.
 */
export async function decodeTypedData(
  source: ByteSource,
  record: InitializerRecord,
  type: OnnxDataType,
  elements: number,
  byteLength: number,
): Promise<Uint8Array> {
  const { name } = record;
  if (byteLength > LIMITS.typedDataBytes) {
    throw new CheckpointError(
      'LimitExceeded',
      `tensor "${name}" holds ${byteLength} bytes in typed fields, over the ${LIMITS.typedDataBytes}-byte limit`,
      name,
    );
  }
  const field = type.typedField;
  const writer = new EntryWriter(type, byteLength, typedEntryCount(type, elements), name);
  const width = field === FLOAT_DATA ? 4 : field === DOUBLE_DATA ? 8 : 0;
  const r = new ProtoReader(source, record.messageStart);
  const end = record.messageEnd;
  while (r.pos < end) {
    const f = await r.next(end);
    if (f.number !== field) {
      r.skip(f);
    } else if (width > 0) {
      // Packed or one by one, float_data and double_data are little-endian IEEE values.
      writer.fixed(await r.payload(f, LIMITS.typedDataBytes, `tensor "${name}" values`), width);
    } else if (f.wire === WIRE_VARINT) {
      writer.varint(f.value, field);
    } else if (f.wire === WIRE_LEN) {
      const payload = await r.payload(f, LIMITS.typedDataBytes, `tensor "${name}" values`);
      for (const v of packedVarints(payload, `tensor "${name}"`)) writer.varint(v, field);
    } else {
      r.skip(f);
    }
  }
  if (writer.count !== writer.expected) {
    throw new CheckpointError(
      'InvalidOnnx',
      `tensor "${name}" holds ${writer.count} typed values, but its shape needs ${writer.expected}`,
      name,
    );
  }
  return writer.out;
}
