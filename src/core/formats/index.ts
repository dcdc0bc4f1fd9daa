import { FileByteSource, type ByteSource } from './byteSource.js';
import type { Checkpoint } from './checkpoint.js';
import { CheckpointError } from './errors.js';
import { READERS } from './open.js';

export * from './byteSource.js';
export * from './checkpoint.js';
export * from './decode.js';
export * from './dtypes.js';
export * from './encode.js';
export * from './errors.js';
export * from './files.js';
export { DEFAULT_HUB_ENDPOINT, HubRepo, parseHubRef, type HubOptions } from './hub.js';
export {
  openFileIn,
  openFolder,
  openPath,
  READERS,
  registerReader,
  type OpenOptions,
} from './open.js';
export { MAX_HEADER_SIZE, openSafetensors, parseHeader } from './safetensors.js';
export { isShardIndexName, openShardedIndex } from './sharded.js';

/** Opens a checkpoint from any byte source, choosing the reader by name and magic bytes. */
export async function openCheckpoint(source: ByteSource): Promise<Checkpoint> {
  const head = await source.read(0, Math.min(16, source.size));
  const reader = READERS.find((r) => r.sniff(head, source.name));
  if (!reader) {
    throw new CheckpointError(
      'UnsupportedFormat',
      `${source.name} is not a checkpoint format LoRA Lens reads (supported: ${READERS.map((r) => r.format).join(', ')})`,
    );
  }
  return reader.open(source);
}

/** Opens a local file; the file handle is closed on failure. */
export async function openCheckpointFile(path: string): Promise<Checkpoint> {
  const source = await FileByteSource.open(path);
  try {
    return await openCheckpoint(source);
  } catch (e) {
    await source.close();
    throw e;
  }
}
