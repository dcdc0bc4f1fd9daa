/**
 * PyTorch checkpoints (.bin, .pt, .pth, .ckpt) written by torch.save, read header-only: the zip
 * directory, the small data.pkl record (through the restricted unpickler) and each storage
 * record's local header. Tensor bytes are read only when asked for.
 */
import { CountingByteSource, type ByteSource } from '../byteSource.js';
import {
  summarizeDtypes,
  type Checkpoint,
  type CheckpointReader,
  type ElementRange,
  type PlainValue,
  type TensorInfo,
} from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import { byteRangeOf } from '../tensorRange.js';
import { flattenCheckpoint } from './flattenCheckpoint.js';
import { detectContainer, sniffTorch, unsupportedContainer } from './formatDetection.js';
import type { TorchStorage, TorchTensor } from './pickleValues.js';
import { checkStorage, dataStartsOf, storageLoader } from './storageRecords.js';
import { gatherStrided, swapBytes, type TensorLayout } from './tensorLayout.js';
import { unpickle } from './unpickler.js';
import { METHOD_STORED, ZipArchive, type ZipEntry } from './zipArchive.js';

export const TORCH_LIMITS = {
  /** data.pkl is read whole: a 100,000-tensor state dict pickles to about 15 MB. */
  maxPickleBytes: 256 * 1024 * 1024,
  /** Bytes one readTensorBytes call may gather, inflate or read for a strided view. */
  maxTensorReadBytes: 1024 * 1024 * 1024,
  /** Small text records (byteorder, version, …). */
  maxSmallRecordBytes: 4096,
} as const;

const TEXT_RECORDS: readonly (readonly [string, string])[] = [
  ['byteorder', 'torch.byteorder'],
  ['.format_version', 'torch.format_version'],
  ['.storage_alignment', 'torch.storage_alignment'],
  ['.data/version', 'torch.version'],
  ['version', 'torch.version'],
  ['.data/serialization_id', 'torch.serialization_id'],
];

const utf8 = new TextDecoder('utf-8');

/** What readTensorBytes needs beyond the public TensorInfo. */
interface TensorSource {
  readonly tensor: TorchTensor;
  readonly layout: TensorLayout;
  readonly entry: ZipEntry;
}

/** The folder every record sits in: the first record's, as torch's reader takes it. */
function archiveFolder(zip: ZipArchive): string {
  const first = zip.entries[0];
  if (!first) throw new CheckpointError('InvalidZip', 'the zip archive has no records');
  const slash = first.name.indexOf('/');
  if (slash <= 0) {
    throw new CheckpointError(
      'InvalidZip',
      `file in archive is not in a subdirectory: "${first.name}" (torch.save puts every record in one folder)`,
      first.name,
    );
  }
  const folder = first.name.slice(0, slash);
  for (const e of zip.entries) {
    if (!e.name.startsWith(folder + '/')) {
      throw new CheckpointError(
        'InvalidZip',
        `record "${e.name}" is outside the archive folder "${folder}/"`,
        e.name,
      );
    }
  }
  return folder;
}

function isTorchScript(zip: ZipArchive, folder: string): boolean {
  return zip.entries.some(
    (e) => e.name === `${folder}/constants.pkl` || e.name.startsWith(`${folder}/code/`),
  );
}

async function readTextRecords(
  zip: ZipArchive,
  folder: string,
  metadata: Record<string, string>,
): Promise<void> {
  const texts = await Promise.all(
    TEXT_RECORDS.map(async ([record]) => {
      const entry = zip.entry(`${folder}/${record}`);
      if (!entry || entry.uncompressedSize > TORCH_LIMITS.maxSmallRecordBytes) return undefined;
      return utf8.decode(await zip.read(entry, TORCH_LIMITS.maxSmallRecordBytes)).trim();
    }),
  );
  TEXT_RECORDS.forEach(([, key], i) => {
    const text = texts[i];
    // The first of .data/version and version wins.
    if (text !== undefined && !(key in metadata)) metadata[key] = text;
  });
}

export async function openTorch(source: ByteSource): Promise<Checkpoint> {
  const counted = new CountingByteSource(source);
  const head = await counted.read(0, Math.min(512, source.size));
  const kind = detectContainer(head);
  if (kind !== 'zip') throw unsupportedContainer(kind, source.name);

  const zip = await ZipArchive.open(counted);
  const folder = archiveFolder(zip);
  if (isTorchScript(zip, folder)) {
    throw new CheckpointError(
      'UnsupportedTorchFormat',
      'unsupported: TorchScript archive (torch.jit.save); LoRA Lens reads torch.save checkpoints',
    );
  }
  const pklEntry = zip.entry(`${folder}/data.pkl`);
  if (!pklEntry) {
    throw new CheckpointError(
      'UnsupportedTorchFormat',
      `unsupported: the zip has no ${folder}/data.pkl, so it is not a torch.save checkpoint`,
    );
  }
  const metadata = Object.create(null) as Record<string, string>;
  metadata['torch.archive_folder'] = folder;
  await readTextRecords(zip, folder, metadata);
  const byteorder = metadata['torch.byteorder'] ?? 'little';
  if (byteorder !== 'little' && byteorder !== 'big') {
    throw new CheckpointError(
      'UnsupportedTorchFormat',
      `unsupported: byteorder record "${byteorder}"`,
    );
  }

  const storages = new Map<string, TorchStorage>();
  const pkl = await zip.read(pklEntry, TORCH_LIMITS.maxPickleBytes);
  const { value, protocol } = unpickle(pkl, {
    record: pklEntry.name,
    persistentLoad: storageLoader(storages),
  });
  metadata['torch.pickle_protocol'] = String(protocol);
  const flat = flattenCheckpoint(value);
  const warnings = [...flat.warnings];

  const entryOf = (t: TorchTensor) => zip.entry(`${folder}/data/${t.storage.key}`);
  const layouts = flat.tensors.map((f) => checkStorage(f, entryOf(f.tensor), warnings));
  const used = [...new Set(flat.tensors.map((f) => entryOf(f.tensor) as ZipEntry))];
  const starts = await dataStartsOf(
    zip,
    used.filter((e) => e.method === METHOD_STORED),
  );
  const deflated = used.filter((e) => e.method !== METHOD_STORED).length;
  if (deflated > 0) {
    warnings.push(
      `${deflated} storage record${deflated === 1 ? ' is' : 's are'} compressed: their tensors are inflated when read`,
    );
  }
  if (byteorder === 'big')
    warnings.push('the storages are big-endian: tensor bytes are byte-swapped when read');

  const names = new Set<string>();
  const sources = new Map<TensorInfo, TensorSource>();
  const order = new Map<TensorInfo, number>();
  const tensors: TensorInfo[] = [];
  flat.tensors.forEach((f, i) => {
    const t = f.tensor;
    const layout = layouts[i] as TensorLayout;
    const entry = entryOf(t) as ZipEntry;
    const start = starts.get(entry);
    let name = f.name;
    if (names.has(name)) {
      let n = 2;
      while (names.has(`${f.name}#${n}`)) n++;
      name = `${f.name}#${n}`;
      warnings.push(`two tensors are named "${f.name}"; the second is listed as "${name}"`);
    }
    names.add(name);
    const direct = start !== undefined && layout.contiguous && byteorder === 'little';
    const info: TensorInfo = {
      name,
      dtype: t.dtype.name,
      shape: [...t.shape],
      offset: direct ? start + t.storageOffset * t.dtype.itemSize : -1,
      byteLength: layout.numel * t.dtype.itemSize,
      parameterCount: layout.numel,
      role: f.role,
      storage: {
        key: t.storage.key,
        storageDtype: t.storage.dtype.name,
        storageNumel: t.storage.numel,
        location: t.storage.location,
        storageOffset: t.storageOffset,
        stride: [...t.stride],
      },
    };
    tensors.push(info);
    sources.set(info, { tensor: t, layout, entry });
    order.set(info, (start ?? entry.localHeaderOffset) + t.storageOffset * t.dtype.itemSize);
  });
  // File order; ties (shared or empty storages) keep pickle order (sort is stable).
  tensors.sort((a, b) => (order.get(a) as number) - (order.get(b) as number));

  let dataBytes = 0;
  for (const e of used) dataBytes += e.uncompressedSize;
  return new TorchCheckpoint(
    counted,
    zip,
    byteorder === 'big',
    tensors,
    sources,
    metadata,
    flat.values,
    warnings,
    dataBytes,
    counted.bytesRead,
  );
}

class TorchCheckpoint implements Checkpoint {
  readonly format = 'torch' as const;
  readonly name: string;
  readonly fileSize: number;
  readonly parameterCount: number;
  readonly dtypes;
  private byName: Map<string, TensorInfo> | undefined;

  constructor(
    private readonly source: ByteSource,
    private readonly zip: ZipArchive,
    private readonly bigEndian: boolean,
    readonly tensors: readonly TensorInfo[],
    private readonly sources: ReadonlyMap<TensorInfo, TensorSource>,
    readonly metadata: Readonly<Record<string, string>>,
    readonly values: Readonly<Record<string, PlainValue>>,
    readonly warnings: readonly string[],
    readonly dataBytes: number,
    readonly headerByteLength: number,
  ) {
    this.name = source.name;
    this.fileSize = source.size;
    let params = 0;
    for (const t of tensors) if (t.role === 'weight') params += t.parameterCount;
    this.parameterCount = params;
    this.dtypes = summarizeDtypes(tensors);
  }

  tensor(name: string): TensorInfo {
    this.byName ??= new Map(this.tensors.map((t) => [t.name, t]));
    const t = this.byName.get(name);
    if (!t) throw new CheckpointError('TensorNotFound', `tensor "${name}" not found`, name);
    return t;
  }

  async readTensorBytes(tensor: TensorInfo, range?: ElementRange): Promise<Uint8Array> {
    const own = this.sources.has(tensor) ? tensor : this.tensor(tensor.name);
    if (own.offset >= 0) {
      const { offset, length } = byteRangeOf(own, range);
      return this.source.read(offset, length);
    }
    const whole = await this.wholeTensor(own, this.sources.get(own) as TensorSource);
    if (!range) return whole;
    const { offset, length } = byteRangeOf({ ...own, offset: 0 }, range);
    return whole.subarray(offset, offset + length);
  }

  /** A strided, compressed or big-endian tensor: read what it spans, then gather and swap. */
  private async wholeTensor(info: TensorInfo, { tensor: t, layout, entry }: TensorSource) {
    const item = t.dtype.itemSize;
    const spanBytes = (layout.spanEnd - layout.spanStart) * item;
    const limit = TORCH_LIMITS.maxTensorReadBytes;
    if (info.byteLength > limit || spanBytes > limit || entry.uncompressedSize > limit) {
      const what = entry.method === METHOD_STORED ? spanBytes : entry.uncompressedSize;
      throw new CheckpointError(
        'LimitExceeded',
        `reading tensor "${info.name}" would take ${Math.max(what, info.byteLength).toLocaleString('en-US')} bytes, over the ${limit.toLocaleString('en-US')}-byte limit for a strided or compressed tensor`,
        info.name,
      );
    }
    let span: Uint8Array;
    if (entry.method === METHOD_STORED) {
      const start = await this.zip.dataStart(entry);
      span = await this.source.read(start + layout.spanStart * item, spanBytes);
    } else {
      const all = await this.zip.read(entry, limit);
      span = all.subarray(layout.spanStart * item, layout.spanStart * item + spanBytes);
    }
    const out = layout.contiguous ? span.slice() : gatherStrided(span, t, layout);
    // As torch.load does: swap by the storage's element type, so an UntypedStorage (float8,
    // uint16, … saved through _rebuild_tensor_v3) is left as it is.
    return this.bigEndian ? swapBytes(out, t.storage.dtype.swapUnit) : out;
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

export const torchReader: CheckpointReader = {
  format: 'torch',
  sniff: sniffTorch,
  open: (source) => openTorch(source),
};
