import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  summarizeDtypes,
  type CheckpointFormat,
  type CheckpointInfo,
  type PlainValue,
  type TensorInfo,
  type TensorRole,
} from '../../../src/core/formats/checkpoint.js';

export const REPO = join(__dirname, '../../..');
export const LORA_FIXTURES = join(REPO, 'test/fixtures/lora');

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, F64: 8 };

export interface InfoOptions {
  readonly dtype?: string;
  /** Per-tensor dtype overrides. */
  readonly dtypes?: Readonly<Record<string, string>>;
  readonly roles?: Readonly<Record<string, TensorRole>>;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly configs?: Readonly<Record<string, PlainValue>>;
  readonly values?: Readonly<Record<string, PlainValue>>;
  readonly format?: CheckpointFormat;
}

/** A header-only CheckpointInfo from name → shape, as a reader would build it (no data). */
export function infoFrom(
  shapes: Readonly<Record<string, readonly number[]>>,
  o: InfoOptions = {},
): CheckpointInfo {
  let offset = 0;
  const tensors: TensorInfo[] = Object.entries(shapes).map(([name, shape]) => {
    const dtype = o.dtypes?.[name] ?? o.dtype ?? 'F32';
    const parameterCount = shape.reduce((a, b) => a * b, 1);
    const byteLength = parameterCount * (BYTES[dtype] ?? 1);
    const t: TensorInfo = {
      name,
      dtype,
      shape,
      offset,
      byteLength,
      parameterCount,
      ...(o.roles?.[name] ? { role: o.roles[name] } : {}),
    };
    offset += byteLength;
    return t;
  });
  return {
    format: o.format ?? 'safetensors',
    name: 'test',
    fileSize: offset,
    headerByteLength: 0,
    tensors,
    metadata: Object.assign(Object.create(null) as Record<string, string>, o.metadata ?? {}),
    parameterCount: tensors.reduce((a, t) => a + t.parameterCount, 0),
    dataBytes: offset,
    dtypes: summarizeDtypes(tensors),
    ...(o.values ? { values: o.values } : {}),
    ...(o.configs ? { configs: o.configs } : {}),
  };
}

/** A real adapter's key → shape list (copied from InvokeAI's test data into test/fixtures/lora/keys). */
export function keyList(name: string): Record<string, number[]> {
  const text = readFileSync(join(LORA_FIXTURES, 'keys', `${name}.json`), 'utf8');
  return (JSON.parse(text) as { state_dict_keys: Record<string, number[]> }).state_dict_keys;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
