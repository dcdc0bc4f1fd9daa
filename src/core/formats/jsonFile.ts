import type { Siblings } from './files.js';
import { CheckpointError, type ReaderErrorCode } from './errors.js';

/** Reads and parses a JSON side file (index, config) with a size cap, as a named error when it is bad. */
export async function readJsonFile(
  siblings: Siblings,
  relativePath: string,
  maxBytes: number,
  code: ReaderErrorCode,
): Promise<unknown> {
  return parseJsonText(
    await readJsonText(siblings, relativePath, maxBytes, code),
    relativePath,
    code,
  );
}

/** The text of a JSON side file, size-capped and checked to be UTF-8, not yet parsed. */
export async function readJsonText(
  siblings: Siblings,
  relativePath: string,
  maxBytes: number,
  code: ReaderErrorCode,
): Promise<string> {
  const source = await siblings.open(relativePath);
  try {
    if (source.size > maxBytes) {
      throw new CheckpointError(
        'LimitExceeded',
        `${relativePath} is ${source.size} bytes, over the ${maxBytes}-byte limit for JSON side files`,
        relativePath,
      );
    }
    const bytes = await source.read(0, source.size);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new CheckpointError(code, `${relativePath} is not UTF-8 text`, relativePath);
    }
  } finally {
    await source.close();
  }
}

/** JSON.parse, with a syntax error as a named error. */
export function parseJsonText(text: string, relativePath: string, code: ReaderErrorCode): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CheckpointError(
      code,
      `${relativePath} is not valid JSON: ${(e as Error).message}`,
      relativePath,
    );
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
