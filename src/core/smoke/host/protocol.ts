/**
 * Messages between the parent (extension host or CLI) and the child process that hosts onnxruntime.
 * The child speaks first with `ready`; the parent then sends one request and, maybe, `cancel`. Errors
 * cross the boundary as plain data and are rebuilt as the same named classes on the parent side, so
 * callers see a `CheckpointError` or `SmokeError` with its code whichever process threw it.
 */
import { CheckpointError, toCheckpointError, type ReaderErrorCode } from '../../formats/errors.js';
import {
  SmokeError,
  type MergeReport,
  type MergeRequest,
  type SmokeErrorCode,
  type SmokeEvent,
  type SmokeReport,
  type SmokeRequest,
} from '../types.js';

/** Environment variable naming the scratch folder the parent made for the child (and removes). */
export const TEMP_DIR_ENV = 'LORA_LENS_SMOKE_TEMP';

/** What the child can be asked to do, with its request and its result. */
export interface Jobs {
  smoke: { request: SmokeRequest; result: SmokeReport };
  merge: { request: MergeRequest; result: MergeReport };
}
export type JobKind = keyof Jobs;

/** Resource use of the child, measured just before it answers. */
export interface ChildUsage {
  /** Peak resident set size of the child, in bytes. */
  readonly maxRssBytes: number;
  /** CPU time of the child (user + system), in ms. */
  readonly cpuMs: number;
}

export type ParentMessage =
  | {
      [K in JobKind]: {
        readonly type: K;
        readonly id: number;
        readonly request: Jobs[K]['request'];
      };
    }[JobKind]
  | { readonly type: 'cancel'; readonly id: number };

/** An error as data: which class it was, its code, message and subject. */
export interface WireError {
  readonly kind: 'SmokeError' | 'CheckpointError' | 'Error';
  readonly code: string;
  readonly message: string;
  readonly subject?: string;
  /** The child's stack, for errors that are our bugs rather than named refusals. */
  readonly stack?: string;
}

export type ChildMessage =
  | {
      readonly type: 'ready';
      readonly pid: number;
      /** The onnxruntime-node version, or null when it could not be loaded (see `ortError`). */
      readonly ortVersion: string | null;
      readonly ortError: string | null;
    }
  | { readonly type: 'event'; readonly id: number; readonly event: SmokeEvent }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly result: SmokeReport | MergeReport;
      readonly usage: ChildUsage;
    }
  | {
      readonly type: 'error';
      readonly id: number;
      readonly error: WireError;
      readonly usage?: ChildUsage;
    };

export function toWireError(e: unknown): WireError {
  if (e instanceof SmokeError) return { kind: 'SmokeError', code: e.code, message: e.message };
  const errno = e as { code?: unknown } | null;
  if (
    e instanceof CheckpointError ||
    (typeof errno === 'object' && typeof errno?.code === 'string')
  ) {
    // Named refusals, and Node's errno errors (ENOENT …) named the way the rest of the product does.
    const c = toCheckpointError(e);
    return {
      kind: 'CheckpointError',
      code: c.code,
      message: c.message,
      ...(c.subject === undefined ? {} : { subject: c.subject }),
    };
  }
  if (e instanceof Error)
    return {
      kind: 'Error',
      code: 'InternalError',
      message: e.message,
      ...(e.stack ? { stack: e.stack } : {}),
    };
  return { kind: 'Error', code: 'InternalError', message: String(e) };
}

/** The parent's copy of an error thrown in the child: same class, code, message and subject. */
export function fromWireError(w: WireError): Error {
  if (w.kind === 'SmokeError') return new SmokeError(w.code as SmokeErrorCode, w.message);
  if (w.kind === 'CheckpointError')
    return new CheckpointError(w.code as ReaderErrorCode, w.message, w.subject);
  const e = new Error(w.message);
  if (w.stack) e.stack = w.stack;
  return e;
}

/** A message from the child, checked just enough to trust its `type` and `id`. */
export function isChildMessage(m: unknown): m is ChildMessage {
  if (typeof m !== 'object' || m === null) return false;
  const { type, id } = m as { type?: unknown; id?: unknown };
  if (type === 'ready') return true;
  return (type === 'event' || type === 'result' || type === 'error') && typeof id === 'number';
}

export function isParentMessage(m: unknown): m is ParentMessage {
  if (typeof m !== 'object' || m === null) return false;
  const { type, id } = m as { type?: unknown; id?: unknown };
  return (type === 'smoke' || type === 'merge' || type === 'cancel') && typeof id === 'number';
}

export function usageNow(): ChildUsage {
  const u = process.resourceUsage();
  return { maxRssBytes: u.maxRSS * 1024, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000 };
}
