import { readRange, type ByteSource } from '../byteSource.js';
import {
  summarizeDtypes,
  type Checkpoint,
  type CheckpointReader,
  type DtypeStats,
  type ElementRange,
  type OpenContext,
  type TensorInfo,
} from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import type { Siblings } from '../files.js';
import { byteRangeOf } from '../tensorRange.js';
import { checkExternalFiles } from './externalFiles.js';
import { layOutTensor, type TensorStorage } from './layout.js';
import { modelMetadata } from './metadata.js';
import { decodeTypedData } from './typedData.js';
import { walkModel } from './walkModel.js';

/** Header-only: walks the protobuf structure and never reads tensor data until asked. */
export async function openOnnx(source: ByteSource, context?: OpenContext): Promise<Checkpoint> {
  const facts = await walkModel(source);
  const siblings = context?.siblings;
  const folderLabel = siblings?.label ?? "the model's folder";
  const tensors: TensorInfo[] = [];
  const storage = new Map<string, TensorStorage>();
  const warnings: string[] = [];
  for (const record of facts.initializers) {
    if (storage.has(record.name)) {
      throw new CheckpointError(
        'InvalidOnnx',
        `two initializers are named "${record.name}"`,
        record.name,
      );
    }
    const laid = layOutTensor(record, facts.consumers.get(record.name) ?? [], folderLabel);
    tensors.push(laid.info);
    storage.set(record.name, laid.storage);
    if (laid.warning) warnings.push(laid.warning);
  }
  warnings.push(...(await checkExternalFiles(tensors, storage, siblings)));
  if (facts.sparseInitializers > 0) {
    warnings.push(
      `${facts.sparseInitializers} sparse initializer${facts.sparseInitializers === 1 ? ' is' : 's are'} not listed`,
    );
  }
  return new OnnxCheckpoint(source, siblings, tensors, storage, modelMetadata(facts), {
    headerByteLength: facts.bytesRead,
    warnings,
  });
}

class OnnxCheckpoint implements Checkpoint {
  readonly format = 'onnx' as const;
  readonly name: string;
  readonly fileSize: number;
  readonly headerByteLength: number;
  readonly parameterCount: number;
  readonly dataBytes: number;
  readonly dtypes: readonly DtypeStats[];
  readonly warnings?: readonly string[];
  private readonly byName: Map<string, TensorInfo>;
  /** External files opened for reading, by location; closed with the checkpoint. */
  private readonly externalSources = new Map<string, Promise<ByteSource>>();

  constructor(
    private readonly source: ByteSource,
    private readonly siblings: Siblings | undefined,
    readonly tensors: readonly TensorInfo[],
    private readonly storage: ReadonlyMap<string, TensorStorage>,
    readonly metadata: Readonly<Record<string, string>>,
    header: { headerByteLength: number; warnings: string[] },
  ) {
    this.name = source.name;
    this.fileSize = source.size;
    this.headerByteLength = header.headerByteLength;
    if (header.warnings.length > 0) this.warnings = header.warnings;
    let parameters = 0;
    let bytes = 0;
    for (const t of tensors) {
      parameters += t.parameterCount;
      bytes += t.byteLength;
    }
    this.parameterCount = parameters;
    this.dataBytes = bytes;
    this.dtypes = summarizeDtypes(tensors);
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  tensor(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new CheckpointError('TensorNotFound', `tensor "${name}" not found`, name);
    return t;
  }

  async readTensorBytes(
    tensor: TensorInfo,
    range?: ElementRange,
    into?: Uint8Array,
  ): Promise<Uint8Array> {
    const info = this.tensor(tensor.name);
    const storage = this.storage.get(info.name) as TensorStorage;
    switch (storage.kind) {
      case 'inline': {
        const { offset, length } = byteRangeOf(info, range);
        return readRange(this.source, offset, length, into);
      }
      case 'external': {
        if (storage.problem) {
          throw new CheckpointError(storage.problem.code, storage.problem.message, info.name);
        }
        const { offset, length } = byteRangeOf(info, range);
        const file = await this.external(info.file as string);
        return readRange(file, offset, length, into);
      }
      case 'typed': {
        const bytes = await decodeTypedData(
          this.source,
          storage.record,
          storage.type,
          info.parameterCount,
          info.byteLength,
        );
        const { offset, length } = byteRangeOf({ ...info, offset: 0 }, range);
        return bytes.subarray(offset, offset + length);
      }
      case 'empty':
        byteRangeOf({ ...info, offset: 0 }, range);
        return new Uint8Array(0);
      case 'unreadable':
        throw new CheckpointError(
          storage.code,
          `tensor "${info.name}" cannot be read: LoRA Lens does not read ${storage.reason}`,
          info.name,
        );
    }
  }

  private external(file: string): Promise<ByteSource> {
    let opened = this.externalSources.get(file);
    if (!opened) {
      // checkExternalFiles marks every tensor as missing when there are no siblings.
      opened = (this.siblings as Siblings).open(file);
      // A failed open is not cached: the next read tries again.
      opened.catch(() => this.externalSources.delete(file));
      this.externalSources.set(file, opened);
    }
    return opened;
  }

  async close(): Promise<void> {
    const opened = [...this.externalSources.values()];
    this.externalSources.clear();
    const results = await Promise.allSettled(opened);
    await Promise.allSettled(
      results.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)),
    );
    await this.source.close();
  }
}

/** ONNX has no magic number; a ModelProto starts with ir_version (field 1), then a string field. */
function looksLikeModelProto(head: Uint8Array): boolean {
  const next = head[2];
  return (
    head[0] === 0x08 &&
    head[1] !== undefined &&
    head[1] >= 1 &&
    head[1] <= 0x7f &&
    next !== undefined &&
    // producer_name, producer_version, domain, model_version, doc_string, graph, opset_import,
    // metadata_props.
    [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72].includes(next)
  );
}

export const onnxReader: CheckpointReader = {
  format: 'onnx',
  sniff(head, fileName) {
    const base = fileName.slice(
      Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1,
    );
    if (base.toLowerCase().endsWith('.onnx')) return true;
    return !base.includes('.') && looksLikeModelProto(head);
  },
  open: openOnnx,
};
