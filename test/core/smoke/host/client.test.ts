import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import {
  childEnv,
  runMergeInChild,
  runSmokeInChild,
  type ChildOptions,
} from '../../../../src/core/smoke/host/client.js';
import type { ChildUsage } from '../../../../src/core/smoke/host/protocol.js';
import {
  SmokeError,
  type SmokeEvent,
  type SmokeRequest,
} from '../../../../src/core/smoke/types.js';

const FAKE = resolve('test/fixtures/smoke-host/fake-worker.js');
const REQ: SmokeRequest = { adapterPath: 'a', basePath: 'b', eps: ['cpu'] };

function opts(mode: string, extra: Partial<ChildOptions> = {}): ChildOptions {
  return {
    workerPath: FAKE,
    timeoutMs: 5000,
    env: { ...process.env, FAKE_WORKER_MODE: mode },
    ...extra,
  };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a rejection');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL is asynchronous: wait a little for the process to be reaped. */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!isAlive(pid), `child ${pid} is still running`);
}

describe('smoke host client', () => {
  it('sends the request after ready, streams events and logs, and returns the answer', async () => {
    const events: SmokeEvent[] = [];
    const logs: string[] = [];
    let usage: ChildUsage | undefined;
    let pid = 0;
    const result = (await runSmokeInChild(
      REQ,
      opts('echo', {
        onReady: (r) => (pid = r.pid),
        onEvent: (e) => events.push(e),
        onLog: (l) => logs.push(l),
        onUsage: (u) => (usage = u),
        cudaProviderPath: '/opt/cuda-libs',
        env: { FAKE_WORKER_MODE: 'echo', LD_LIBRARY_PATH: '/usr/lib/x' },
      }),
    )) as unknown as {
      kind: string;
      request: SmokeRequest;
      env: Record<string, string>;
      execArgv: string[];
    };
    assert.equal(result.kind, 'smoke');
    assert.deepEqual(result.request, REQ);
    assert.equal(result.env.ELECTRON_RUN_AS_NODE, '1');
    assert.equal(result.env.LD_LIBRARY_PATH, `/opt/cuda-libs${delimiter}/usr/lib/x`);
    // The test runs under tsx (--import); the child must not inherit that.
    assert.deepEqual(result.execArgv, []);
    assert.deepEqual(events, [{ type: 'phase', phase: 'open', message: 'opening' }]);
    // Log lines still arrive after the answer, until the child has exited.
    await gone(pid);
    assert.ok(logs.some((l) => l.startsWith('Dawn warning')));
    assert.equal(usage?.maxRssBytes, 12345 * 1024);
  });

  it('kills the child once it has answered, and removes its scratch folder', async () => {
    let pid = 0;
    const r = (await runSmokeInChild(
      REQ,
      opts('echo', { onReady: (info) => (pid = info.pid) }),
    )) as unknown as { env: Record<string, string>; tempExists: boolean };
    assert.ok(pid > 0);
    assert.equal(r.tempExists, true);
    await gone(pid);
    for (let i = 0; i < 50 && existsSync(r.env.LORA_LENS_SMOKE_TEMP as string); i++)
      await new Promise((res) => setTimeout(res, 20));
    assert.equal(existsSync(r.env.LORA_LENS_SMOKE_TEMP as string), false);
  });

  it('a Node binary that cannot start is SmokeCrashed', async () => {
    const e = await rejection(runSmokeInChild(REQ, opts('echo', { execPath: '/nope/node' })));
    assert.equal((e as SmokeError).code, 'SmokeCrashed');
    assert.match(e.message, /ENOENT/);
  });

  it('runs merge requests through the same channel', async () => {
    const merged = (await runMergeInChild(
      { adapterPath: 'a', basePath: 'm.onnx', outPath: 'o.onnx' },
      opts('echo'),
    )) as unknown as { kind: string };
    assert.equal(merged.kind, 'merge');
  });

  it('rebuilds errors thrown in the child as the same classes', async () => {
    const c = await rejection(
      runSmokeInChild({ ...REQ, adapterPath: 'checkpoint-error' }, opts('echo')),
    );
    assert.ok(c instanceof CheckpointError);
    assert.equal(c.code, 'FileNotFound');
    assert.equal(c.subject, 'x');
    const s = await rejection(
      runSmokeInChild({ ...REQ, adapterPath: 'smoke-error' }, opts('echo')),
    );
    assert.ok(s instanceof SmokeError);
    assert.equal(s.code, 'NothingToTest');
    const p = await rejection(
      runSmokeInChild({ ...REQ, adapterPath: 'plain-error' }, opts('echo')),
    );
    assert.equal(p.message, 'boom');
  });

  it('a child that exits without answering is SmokeCrashed, with its exit code and last stderr lines', async () => {
    const e = await rejection(runSmokeInChild(REQ, opts('crash')));
    assert.ok(e instanceof SmokeError);
    assert.equal(e.code, 'SmokeCrashed');
    assert.match(e.message, /exited with code 3 before it answered/);
    // The last 40 lines are kept: 60 numbered lines and an unterminated last one.
    assert.match(e.message, /terminate called after throwing/);
    assert.match(e.message, /log line 60/);
    assert.match(e.message, /log line 22\n/);
    assert.doesNotMatch(e.message, /log line 21\n/);
  });

  it('a child killed by a signal, or dead before ready, is SmokeCrashed too', async () => {
    const sig = await rejection(runSmokeInChild(REQ, opts('signal')));
    assert.equal((sig as SmokeError).code, 'SmokeCrashed');
    assert.match(sig.message, /killed by SIGSEGV/);
    const early = await rejection(runSmokeInChild(REQ, opts('no-ready')));
    assert.equal((early as SmokeError).code, 'SmokeCrashed');
    assert.match(early.message, /exited with code 9[^]*cannot load the native binding/);
  });

  it('a hung child is killed at the timeout: SmokeTimeout', async () => {
    let pid = 0;
    const t = Date.now();
    const e = await rejection(
      runSmokeInChild(REQ, opts('hang', { timeoutMs: 600, onReady: (r) => (pid = r.pid) })),
    );
    assert.equal((e as SmokeError).code, 'SmokeTimeout');
    assert.match(e.message, /took longer than 600 ms/);
    assert.ok(Date.now() - t < 3000);
    await gone(pid);
  });

  it('cancel: a child that stops is answered at once; one that does not is killed after the grace', async () => {
    const polite = new AbortController();
    const t0 = Date.now();
    const p1 = runSmokeInChild(
      { ...REQ, adapterPath: 'wait-for-cancel' },
      opts('echo', { signal: polite.signal, cancelGraceMs: 5000 }),
    );
    setTimeout(() => polite.abort(), 300);
    const e1 = await rejection(p1);
    assert.equal((e1 as SmokeError).code, 'SmokeCancelled');
    assert.ok(Date.now() - t0 < 4000, 'answered before the grace period');

    const stubborn = new AbortController();
    let pid = 0;
    const p2 = runSmokeInChild(
      REQ,
      opts('hang', { signal: stubborn.signal, cancelGraceMs: 200, onReady: (r) => (pid = r.pid) }),
    );
    setTimeout(() => stubborn.abort(), 300);
    const e2 = await rejection(p2);
    assert.equal((e2 as SmokeError).code, 'SmokeCancelled');
    assert.ok(pid > 0);
    await gone(pid);
    const already = new AbortController();
    already.abort();
    const e3 = await rejection(runSmokeInChild(REQ, opts('echo', { signal: already.signal })));
    assert.equal((e3 as SmokeError).code, 'SmokeCancelled');
  });

  it('a missing worker script is a named error, not a crash', async () => {
    const e = await rejection(
      runSmokeInChild(REQ, { workerPath: '/nope/smokeWorker.js', timeoutMs: 1000 }),
    );
    assert.equal((e as SmokeError).code, 'OrtUnavailable');
    assert.match(e.message, /npm run build/);
  });

  it('childEnv runs Electron as Node and prepends the CUDA path', () => {
    const env = childEnv({ env: { A: '1' }, cudaProviderPath: '/cuda' });
    assert.equal(env.ELECTRON_RUN_AS_NODE, '1');
    assert.equal(env.A, '1');
    assert.equal(env.LD_LIBRARY_PATH, '/cuda');
    assert.equal(childEnv({ env: {} }).LD_LIBRARY_PATH, undefined);
  });
});
