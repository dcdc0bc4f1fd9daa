import { FileByteSource } from './byteSource.js';
import type { Checkpoint } from './checkpoint.js';
import { openCheckpoint } from './open.js';

export * from './byteSource.js';
export * from './checkpoint.js';
export * from './decode.js';
export * from './dtypes.js';
export * from './encode.js';
export * from './errors.js';
export * from './files.js';
export { DEFAULT_HUB_ENDPOINT, HubRepo, parseHubRef, type HubOptions } from './hub.js';
export {
  openCheckpoint,
  openFileIn,
  openFolder,
  logicalView,
  openPath,
  READERS,
  type OpenOptions,
} from './open.js';
export { MAX_HEADER_SIZE, openSafetensors, parseHeader } from './safetensors.js';
export { isShardIndexName, openShardedIndex } from './sharded.js';

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
