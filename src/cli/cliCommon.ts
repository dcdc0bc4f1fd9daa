/** What every `lora-lens` command shares: output, exit codes, usage errors and common options. */
import type { FloatTarget } from '../core/formats/encode.js';
import { CheckpointError, toCheckpointError } from '../core/formats/errors.js';
import type { HubOptions } from '../core/formats/index.js';

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_INVALID = 2;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export class UsageError extends Error {
  readonly code = 'UsageError';
}

export function report(
  io: Io,
  json: boolean,
  code: string,
  message: string,
  subject?: string,
): number {
  if (json) io.out(JSON.stringify({ error: { code, message, ...(subject ? { subject } : {}) } }));
  else io.err(`lora-lens: ${code}: ${message}`);
  return EXIT_INVALID;
}

export function hubOptions(endpoint?: string): HubOptions {
  const token = process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const ep = endpoint ?? process.env.HF_ENDPOINT;
  return { ...(ep ? { endpoint: ep } : {}), ...(token ? { token } : {}) };
}

export function parseDtype(value: string | undefined): FloatTarget | undefined {
  if (value === undefined) return undefined;
  const map: Record<string, FloatTarget> = {
    f32: 'F32',
    fp32: 'F32',
    f16: 'F16',
    fp16: 'F16',
    bf16: 'BF16',
  };
  const d = map[value.toLowerCase()];
  if (!d) throw new UsageError(`--dtype must be f32, f16 or bf16, got "${value}"`);
  return d;
}

/**
 * A command that parses its own arguments (the surgery and compare commands): `argv` is everything
 * after the command name. It prints its report and returns the exit code; it reports its own errors.
 */
export type CommandRunner = (argv: string[], io: Io) => Promise<number>;

/**
 * Reports any error a command throws, by its named code, and returns the exit code. Besides
 * CheckpointError, any named error of ours (SurgeryError, …: an Error subclass with a string code)
 * keeps its code; a Node errno error or anything else goes through toCheckpointError.
 */
export function reportError(io: Io, json: boolean, e: unknown): number {
  if (e instanceof UsageError) return report(io, json, e.code, e.message);
  if (e instanceof CheckpointError) return report(io, json, e.code, e.message, e.subject);
  if (isNamedError(e)) return report(io, json, e.code, e.message, e.subject);
  const err = toCheckpointError(e);
  return report(io, json, err.code, err.message, err.subject);
}

/** One of our named errors: its own class (not a plain Error or a Node errno error) with a code. */
function isNamedError(e: unknown): e is Error & { code: string; subject?: string } {
  return (
    e instanceof Error &&
    e.constructor !== Error &&
    typeof (e as { code?: unknown }).code === 'string' &&
    !(e as NodeJS.ErrnoException).syscall &&
    /^[A-Z][A-Za-z]+$/.test((e as unknown as { code: string }).code)
  );
}
