/**
 * Which kind of PyTorch file this is, from its first bytes: the zip format torch.save writes
 * since 1.6, or one of the older layouts LoRA Lens refuses by name (never by trying to unpickle
 * them: the legacy formats have no restricted loader, so there is no safe fallback).
 */
import { CheckpointError } from '../errors.js';

export type TorchContainer = 'zip' | 'legacy' | 'pickle' | 'tar' | 'preview' | 'unknown';

/** File names torch checkpoints use. */
export const TORCH_FILE_NAME = /\.(bin|pt|pth|ckpt)$/i;

/** torch/serialization.py MAGIC_NUMBER, 0x1950a86a20f9469cfc6c, as the LONG1 bytes pickle writes. */
const LEGACY_MAGIC = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

const TAR_MEMBERS = ['sys_info', 'pickle', 'tensors', 'storages'];

export function isZipHead(head: Uint8Array): boolean {
  return (
    head.length >= 4 &&
    head[0] === 0x50 &&
    head[1] === 0x4b &&
    ((head[2] === 0x03 && head[3] === 0x04) || (head[2] === 0x05 && head[3] === 0x06))
  );
}

function startsWithAscii(head: Uint8Array, text: string, at = 0): boolean {
  if (head.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** A tar whose first member is one torch's tar format writes (name, then NUL padding). */
function looksLikeTorchTar(head: Uint8Array): boolean {
  return TAR_MEMBERS.some((m) => startsWithAscii(head, m) && head[m.length] === 0);
}

/** PROTO n, an optional FRAME, then LONG1 with the 10-byte magic number. */
function hasLegacyMagic(head: Uint8Array): boolean {
  let p = 2;
  if (head[p] === 0x95) p += 9;
  if (head[p] !== 0x8a || head[p + 1] !== LEGACY_MAGIC.length) return false;
  return LEGACY_MAGIC.every((b, i) => head[p + 2 + i] === b);
}

/** `head` should hold the first 512 bytes (or the whole file when shorter). */
export function detectContainer(head: Uint8Array): TorchContainer {
  if (isZipHead(head)) return 'zip';
  if (startsWithAscii(head, 'PYTORCH1')) return 'preview';
  if (head[0] === 0x80) return hasLegacyMagic(head) ? 'legacy' : 'pickle';
  if (startsWithAscii(head, 'ustar', 257) || looksLikeTorchTar(head)) return 'tar';
  return 'unknown';
}

/** Cheap claim for the reader registry: a torch file name and a torch-like first few bytes. */
export function sniffTorch(head: Uint8Array, fileName: string): boolean {
  if (!TORCH_FILE_NAME.test(fileName)) return false;
  return isZipHead(head) || head[0] === 0x80 || looksLikeTorchTar(head);
}

/** The named refusal for every layout but zip. */
export function unsupportedContainer(
  kind: Exclude<TorchContainer, 'zip'>,
  name: string,
): CheckpointError {
  const message: Record<typeof kind, string> = {
    legacy: 'unsupported: legacy (pre-1.6) torch.save format; re-save it with a current torch',
    pickle:
      'unsupported: a plain pickle stream, not a torch.save zip archive; LoRA Lens does not unpickle it',
    tar: 'unsupported: the oldest (tar-based) torch.save format; re-save it with a current torch',
    preview: 'unsupported: the PYTORCH1 preview format; re-save it with a current torch',
    unknown: `${name} is neither a zip archive nor a pickle stream, so it is not a torch.save checkpoint`,
  };
  return new CheckpointError(
    kind === 'unknown' ? 'InvalidZip' : 'UnsupportedTorchFormat',
    message[kind],
  );
}
