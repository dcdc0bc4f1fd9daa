/**
 * The parent side of the smoke-test process: fork the worker, wait for `ready`, send one request,
 * stream its events, and turn every way it can end into a result or a named error. A fresh process
 * per request keeps a native crash, a leak or a hung run from outliving the request that caused it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  SmokeError,
  type MergeReport,
  type MergeRequest,
  type SmokeEvent,
  type SmokeReport,
  type SmokeRequest,
} from '../types.js';
import {
  fromWireError,
  isChildMessage,
  TEMP_DIR_ENV,
  type ChildMessage,
  type ChildUsage,
  type JobKind,
  type Jobs,
  type ParentMessage,
} from './protocol.js';

export interface ChildOptions {
  /** The worker script: dist/smokeWorker.js. */
  workerPath: string;
  /** Wall-clock limit from the fork to the answer. */
  timeoutMs: number;
  /** Abort: the child is asked to stop, then killed after `cancelGraceMs`. */
  signal?: AbortSignal;
  onEvent?: (e: SmokeEvent) => void;
  /** Lines the child writes (ORT and Dawn log on stderr). */
  onLog?: (line: string) => void;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Prepended to the library search path, where the CUDA and cuDNN libraries are found. */
  cudaProviderPath?: string;
  /** Node binary (default: this process's; in VS Code, Electron run as Node). */
  execPath?: string;
  /** Time between `cancel` and the kill (default 3000 ms). */
  cancelGraceMs?: number;
  /** The child's peak RSS and CPU time, reported with its answer. */
  onUsage?: (usage: ChildUsage) => void;
  /** The handshake: the child's pid, and the ORT version it loaded or why it could not. */
  onReady?: (info: ReadyInfo) => void;
}

export type ReadyInfo = Omit<Extract<ChildMessage, { type: 'ready' }>, 'type'>;

/** Lines of the child's output kept for the message of a crash. */
const TAIL_LINES = 40;
const REQUEST_ID = 1;
/** How long a child that answered has to exit by itself before it is killed. */
const EXIT_GRACE_MS = 2000;

export function runSmokeInChild(req: SmokeRequest, opts: ChildOptions): Promise<SmokeReport> {
  return runInChild('smoke', req, opts);
}

export function runMergeInChild(req: MergeRequest, opts: ChildOptions): Promise<MergeReport> {
  return runInChild('merge', req, opts);
}

/** The child's environment: run Electron as Node, and find user-supplied CUDA libraries. */
export function childEnv(opts: Pick<ChildOptions, 'env' | 'cudaProviderPath'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' };
  if (opts.cudaProviderPath) {
    const key = process.platform === 'win32' ? 'PATH' : 'LD_LIBRARY_PATH';
    env[key] = [opts.cudaProviderPath, env[key]].filter(Boolean).join(delimiter);
  }
  return env;
}

/** Keeps the last lines of a stream, splitting chunks at line ends. */
class LineTail {
  readonly lines: string[] = [];
  private partial = '';
  constructor(private readonly onLine?: (line: string) => void) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line);
  }

  flush(): void {
    if (this.partial) this.add(this.partial);
    this.partial = '';
  }

  private add(line: string): void {
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    this.onLine?.(line);
  }
}

export function runInChild<K extends JobKind>(
  kind: K,
  request: Jobs[K]['request'],
  opts: ChildOptions,
): Promise<Jobs[K]['result']> {
  if (opts.signal?.aborted)
    return Promise.reject(new SmokeError('SmokeCancelled', 'cancelled before it started'));
  if (!existsSync(opts.workerPath))
    return Promise.reject(
      new SmokeError(
        'OrtUnavailable',
        `the smoke-test worker is missing: ${opts.workerPath} (build it with npm run build)`,
      ),
    );
  return new Promise((resolve, reject) => {
    const tail = new LineTail(opts.onLog);
    let settled = false;
    let ready = false;
    let cancelling = false;
    let graceTimer: NodeJS.Timeout | undefined;
    // Scratch space (ORT profiles) owned here, so a killed child leaves nothing behind.
    const temp = mkdtempSync(join(tmpdir(), 'lora-lens-smoke-'));
    const removeTemp = () => rmSync(temp, { recursive: true, force: true });
    let child: ChildProcess;
    try {
      child = fork(opts.workerPath, [], {
        serialization: 'advanced',
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...childEnv(opts), [TEMP_DIR_ENV]: temp },
        execArgv: [],
        execPath: opts.execPath ?? process.execPath,
      });
    } catch (e) {
      removeTemp();
      reject(crashed(`could not start the smoke-test process: ${(e as Error).message}`, []));
      return;
    }

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    /** `answered`: the child replied, so it may exit on its own and flush its last log lines. */
    const finish = (error: Error | null, value?: Jobs[K]['result'], answered = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (answered && child.connected) {
        // The worker exits when the channel closes; the kill is the backstop.
        child.disconnect();
        const backstop = setTimeout(kill, EXIT_GRACE_MS);
        child.once('exit', () => clearTimeout(backstop));
      } else kill();
      if (error) reject(error);
      else resolve(value as Jobs[K]['result']);
    };
    const post = (message: ParentMessage) => {
      if (!child.connected) return;
      child.send(message, (e) => {
        // The channel closed under us: the 'close' handler reports why.
        if (e) opts.onLog?.(`could not reach the smoke-test process: ${e.message}`);
      });
    };
    const cancelled = () => new SmokeError('SmokeCancelled', `the ${kind} run was cancelled`);

    function onAbort(): void {
      if (settled || cancelling) return;
      cancelling = true;
      if (!ready) {
        finish(cancelled());
        return;
      }
      post({ type: 'cancel', id: REQUEST_ID });
      // ORT's native run does not yield: if the child cannot stop in time, it is killed.
      graceTimer = setTimeout(() => finish(cancelled()), opts.cancelGraceMs ?? 3000);
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const timer = setTimeout(() => {
      tail.flush();
      finish(
        new SmokeError(
          'SmokeTimeout',
          `the ${kind} run took longer than ${formatSeconds(opts.timeoutMs)} and was stopped` +
            lastLines(tail.lines, 10),
        ),
      );
    }, opts.timeoutMs);

    child.stdout?.setEncoding('utf8').on('data', (c: string) => tail.push(c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => tail.push(c));

    child.on('message', (m: unknown) => {
      if (settled || !isChildMessage(m)) return;
      if (m.type === 'ready') {
        if (ready) return;
        ready = true;
        opts.onReady?.({ pid: m.pid, ortVersion: m.ortVersion, ortError: m.ortError });
        post({ type: kind, id: REQUEST_ID, request } as ParentMessage);
        return;
      }
      if (m.id !== REQUEST_ID) return;
      if (m.type === 'event') {
        if (!cancelling) opts.onEvent?.(m.event);
        return;
      }
      if (m.usage) opts.onUsage?.(m.usage);
      if (cancelling) finish(cancelled(), undefined, true);
      else if (m.type === 'result') finish(null, m.result as Jobs[K]['result'], true);
      else finish(fromWireError(m.error), undefined, true);
    });

    child.on('error', (e) => {
      if (child.pid === undefined) removeTemp(); // it never started, so no 'close' will come
      tail.flush();
      finish(crashed(`the smoke-test process failed: ${e.message}`, tail.lines));
    });

    // Not on 'close': Node emits none after the parent disconnected the channel.
    child.once('exit', removeTemp);
    // 'close' comes after the process exited and its output was read to the end.
    child.on('close', (code, signal) => {
      tail.flush();
      if (cancelling) {
        finish(cancelled());
        return;
      }
      const how = signal
        ? `was killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}`
        : `exited with code ${String(code)}`;
      finish(crashed(`the smoke-test process ${how} before it answered`, tail.lines));
    });
  });
}

function crashed(message: string, lines: readonly string[]): SmokeError {
  return new SmokeError('SmokeCrashed', message + lastLines(lines, TAIL_LINES));
}

function lastLines(lines: readonly string[], n: number): string {
  const kept = lines.filter((l) => l.trim() !== '').slice(-n);
  return kept.length ? `; its last output:\n${kept.join('\n')}` : '';
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${ms} ms`;
}
