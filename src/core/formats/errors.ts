/**
 * Named errors for every rule a checkpoint can break.
 *
 * Safetensors codes reuse the reference Rust crate's error names (safetensors/src/tensor.rs) so users can
 * search for them; the rest are ours and say what went wrong in the same spirit.
 */
export type SafetensorsRule =
  | 'HeaderTooSmall'
  | 'HeaderTooLarge'
  | 'InvalidHeaderLength'
  | 'InvalidHeader'
  | 'InvalidHeaderDeserialization'
  | 'InvalidOffset'
  | 'ValidationOverflow'
  | 'MisalignedSlice'
  | 'TensorInvalidInfo'
  | 'MetadataIncompleteBuffer'
  | 'TensorNotFound'
  // Our additions: stricter than the crate where JSON is under-specified (TOB-SFTN-7).
  | 'UnknownDtype'
  | 'DuplicateKey'
  | 'ReservedTensorName';

export type ReaderErrorCode =
  | SafetensorsRule
  | 'FileNotFound'
  | 'IoError'
  | 'UnsupportedFormat'
  | 'UnsupportedDtype'
  | 'FileTooLargeForWholeRead'
  | 'InvalidRange'
  | 'InternalError'
  | 'PathOutsideFolder'
  // Containers and other formats.
  | 'Truncated'
  | 'LimitExceeded'
  | 'InvalidZip'
  | 'InvalidPickle'
  | 'ForbiddenGlobal'
  | 'ForbiddenOpcode'
  | 'StorageMismatch'
  | 'UnsupportedTorchFormat'
  | 'InvalidGguf'
  | 'InvalidOnnx'
  | 'ExternalDataMissing'
  | 'InvalidIndex'
  | 'MissingShard'
  | 'ShardTensorMissing'
  | 'TotalSizeMismatch'
  | 'InvalidConfig'
  | 'RemoteError'
  | 'WouldOverwriteSource'
  // Writing outputs (export/atomicFile.ts): the disk filled up, or the folder refuses writes.
  | 'DiskFull'
  | 'NotWritable'
  | 'InvalidExport'
  // Quantized weights (formats/quant/).
  | 'InvalidQuantization'
  | 'UnsupportedQuantization';

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly code: ReaderErrorCode,
    message: string,
    /** The tensor or key the error is about, when there is one. */
    readonly subject?: string,
  ) {
    super(message);
  }

  toJSON(): { code: ReaderErrorCode; message: string; subject?: string } {
    return this.subject === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, subject: this.subject };
  }
}

export function isCheckpointError(e: unknown): e is CheckpointError {
  return e instanceof CheckpointError;
}

/** Turns anything thrown into a named error, so callers never show "undefined" or a stack. */
export function toCheckpointError(e: unknown): CheckpointError {
  if (e instanceof CheckpointError) return e;
  const errno = e as NodeJS.ErrnoException | undefined;
  if (errno && typeof errno === 'object' && typeof errno.code === 'string') {
    if (errno.code === 'ENOENT')
      return new CheckpointError('FileNotFound', `file not found: ${errno.path ?? ''}`.trim());
    if (errno.code === 'EISDIR')
      return new CheckpointError('UnsupportedFormat', 'expected a file, found a folder');
    return new CheckpointError('IoError', `${errno.code}: ${errno.message}`);
  }
  // Anything else is our bug, not the file's: say so rather than blame the file.
  return new CheckpointError(
    'InternalError',
    `internal error: ${e instanceof Error ? e.message : String(e)}`,
  );
}
