/**
 * The child process that hosts onnxruntime (bundled as dist/smokeWorker.js). ORT's native code can
 * abort or run for long stretches without yielding, so it never runs in the extension host or the
 * CLI's own process: the parent forks this script, waits for `ready`, sends one request and kills
 * the process once it has the answer.
 */
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mergeAdapter } from '../../export/merge/index.js';
import { runSmoke, type OrtModule } from '../run.js';
import { SmokeError, type SmokeRequest } from '../types.js';
import {
  isParentMessage,
  TEMP_DIR_ENV,
  toWireError,
  usageNow,
  type ChildMessage,
  type ParentMessage,
} from './protocol.js';

interface Loaded {
  readonly ort: OrtModule | null;
  readonly error: string | null;
  readonly libDir: string | null;
}

/** Loads onnxruntime-node; a failure is kept as a reason, not thrown (merge works without it). */
function loadOrt(): Loaded {
  try {
    // A require at run time (the bundle keeps onnxruntime-node external), so that a missing or
    // broken native binding becomes OrtUnavailable instead of a crash at load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as OrtModule;
    return { ort, error: null, libDir: ortLibDir() };
  } catch (e) {
    return { ort: null, error: e instanceof Error ? e.message : String(e), libDir: null };
  }
}

/** Where libonnxruntime and (when the user put them there) the CUDA provider libraries live. */
function ortLibDir(): string {
  // require.resolve gives <pkg>/dist/index.js; the binaries sit under <pkg>/bin/napi-v6/<os>/<arch>.
  const pkg = dirname(dirname(require.resolve('onnxruntime-node')));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

const loaded = loadOrt();
const running = new Map<number, AbortController>();

async function handle(message: Exclude<ParentMessage, { type: 'cancel' }>): Promise<void> {
  const controller = new AbortController();
  running.set(message.id, controller);
  const { signal } = controller;
  try {
    if (message.type === 'smoke') {
      const result = await smoke(message.id, message.request, signal);
      send({ type: 'result', id: message.id, result, usage: usageNow() });
    } else {
      // The merge protects its own sources (adapter, base, mapping file) from being written over.
      const result = await mergeAdapter(message.request, {
        signal,
        ...(message.request.dtype ? { dtype: message.request.dtype } : {}),
      });
      send({ type: 'result', id: message.id, result, usage: usageNow() });
    }
  } catch (e) {
    const error = signal.aborted
      ? toWireError(new SmokeError('SmokeCancelled', 'cancelled'))
      : toWireError(e);
    send({ type: 'error', id: message.id, error, usage: usageNow() });
  } finally {
    running.delete(message.id);
  }
}

async function smoke(id: number, request: SmokeRequest, signal: AbortSignal) {
  if (!loaded.ort)
    throw new SmokeError(
      'OrtUnavailable',
      `onnxruntime-node could not be loaded: ${loaded.error ?? 'unknown reason'}`,
    );
  return runSmoke(request, loaded.ort, {
    onEvent: (event) => send({ type: 'event', id, event }),
    signal,
    // The parent's folder for this run: it removes it even when this process is killed.
    tempDir: process.env[TEMP_DIR_ENV] ?? tmpdir(),
    ortLibDir: loaded.libDir ?? '',
  });
}

process.on('message', (m: unknown) => {
  if (!isParentMessage(m)) return;
  if (m.type === 'cancel') running.get(m.id)?.abort();
  else void handle(m);
});
// The parent went away (closed the channel or died): nothing is left to answer.
process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (e) => {
  // Answer what was running, then exit once the channel has taken the message.
  const ids = [...running.keys()];
  if (ids.length === 0 || !process.send) process.exit(1);
  for (const id of ids)
    process.send?.({ type: 'error', id, error: toWireError(e) } satisfies ChildMessage, () =>
      process.exit(1),
    );
});

send({
  type: 'ready',
  pid: process.pid,
  ortVersion: loaded.ort ? loaded.ort.env.versions.common : null,
  ortError: loaded.error,
});
