import { FileByteSource, type ByteSource } from './byteSource.js';
import type { Checkpoint, CheckpointReader } from './checkpoint.js';
import { CheckpointError } from './errors.js';
import { safetensorsReader } from './safetensors.js';

export * from './byteSource.js';
export * from './checkpoint.js';
export * from './decode.js';
export * from './dtypes.js';
export * from './errors.js';
export { MAX_HEADER_SIZE, openSafetensors, parseHeader } from './safetensors.js';

/** Every reader, tried in order. Later formats register here. */
export const READERS: readonly CheckpointReader[] = [safetensorsReader];

/** Opens a checkpoint from any byte source, choosing the reader by name and magic bytes. */
export async function openCheckpoint(source: ByteSource): Promise<Checkpoint> {
  const head = await source.read(0, Math.min(16, source.size));
  const reader = READERS.find((r) => r.sniff(head, source.name));
  if (!reader) {
    throw new CheckpointError(
      'UnsupportedFormat',
      `${source.name} is not a checkpoint format LoRA Lens reads (supported: .safetensors)`,
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
