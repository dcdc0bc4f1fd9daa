/**
 * Storages: the persistent ids data.pkl names, checked against the zip records that hold them
 * before any tensor is described.
 */
import { CheckpointError } from '../errors.js';
import type { FoundTensor } from './flattenCheckpoint.js';
import {
  PyGlobal,
  PyTuple,
  TorchStorage,
  describeValue,
  type CallSite,
  type PickleValue,
} from './pickleValues.js';
import { layoutOf, type TensorLayout } from './tensorLayout.js';
import type { ZipArchive, ZipEntry } from './zipArchive.js';

/** BINPERSID: ("storage", storage_type, key, location, numel), one TorchStorage per key. */
export function storageLoader(storages: Map<string, TorchStorage>) {
  return (pid: PickleValue, at: CallSite): PickleValue => {
    const invalid = (what: string) =>
      new CheckpointError(
        'InvalidPickle',
        `invalid persistent id at byte ${at.offset} of ${at.record}: ${what}`,
      );
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') {
      throw invalid(
        `expected a ("storage", type, key, location, numel) tuple, got ${describeValue(pid)}`,
      );
    }
    if (pid.items.length !== 5) {
      throw invalid(`a storage id has 5 parts, this one ${pid.items.length}`);
    }
    const [, type, key, location, numel] = pid.items as PickleValue[];
    if (!(type instanceof PyGlobal) || type.def.kind !== 'storage')
      throw invalid(`the storage type is ${describeValue(type ?? null)}, not a storage class`);
    if (typeof key !== 'string' || key.length === 0 || key.length > 256)
      throw invalid('the storage key must be a short string');
    if (typeof location !== 'string') throw invalid('the storage location must be a string');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
      throw invalid('the storage size must be a non-negative integer');
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== type.def.dtype || known.numel !== numel) {
        throw new CheckpointError(
          'StorageMismatch',
          `storage data/${key} is declared twice, as ${known.numel} ${known.dtype.name} and as ${numel} ${type.def.dtype.name} elements`,
        );
      }
      return known;
    }
    const storage = new TorchStorage(key, type.def.dtype, location, numel);
    storages.set(key, storage);
    return storage;
  };
}

/** Record size against the persistent id, then the tensor's extent against the storage. */
export function checkStorage(
  found: FoundTensor,
  entry: ZipEntry | undefined,
  warnings: string[],
): TensorLayout {
  const { name, tensor: t } = found;
  const s = t.storage;
  if (!entry) {
    throw new CheckpointError(
      'StorageMismatch',
      `tensor "${name}" uses storage data/${s.key}, which is not in the archive`,
      name,
    );
  }
  const declared = BigInt(s.numel) * BigInt(s.dtype.itemSize);
  if (BigInt(entry.uncompressedSize) < declared) {
    throw new CheckpointError(
      'StorageMismatch',
      `storage data/${s.key} holds ${entry.uncompressedSize} bytes, but its persistent id declares ${s.numel} ${s.dtype.name} elements (${declared} bytes); tensor "${name}" uses it`,
      name,
    );
  }
  if (BigInt(entry.uncompressedSize) > declared) {
    warnings.push(
      `storage data/${s.key} holds ${entry.uncompressedSize} bytes, more than the ${declared} its persistent id declares`,
    );
  }
  const layout = layoutOf(t, name);
  if (layout.numel > 0 && BigInt(layout.spanEnd) * BigInt(t.dtype.itemSize) > declared) {
    throw new CheckpointError(
      'StorageMismatch',
      `tensor "${name}" (${t.dtype.name} [${t.shape.join(', ')}], storage offset ${t.storageOffset}, stride [${t.stride.join(', ')}]) reaches byte ${layout.spanEnd * t.dtype.itemSize} of storage data/${s.key}, which holds ${declared}`,
      name,
    );
  }
  return layout;
}

/** Reads data-start offsets of the STORED records, a batch of local headers at a time. */
export async function dataStartsOf(zip: ZipArchive, entries: readonly ZipEntry[]) {
  const starts = new Map<ZipEntry, number>();
  const batch = 64;
  for (let i = 0; i < entries.length; i += batch) {
    const part = entries.slice(i, i + batch);
    const got = await Promise.all(part.map((e) => zip.dataStart(e)));
    part.forEach((e, j) => starts.set(e, got[j] as number));
  }
  return starts;
}
