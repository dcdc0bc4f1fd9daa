// Runs the mocha suite in test/extension-host/ INSIDE code-server's extension host, loading the
// extension from the repository (extensionDevelopmentPath) via the workbench `payload` parameter,
// and fails if any mocha test failed.
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { ResultFile } from '../extension-host/index';
import { EH_INDEX, ensureExtensionHostBuild, runDir } from './build';
import { ROOT, recordTiming, sample, startSession, waitFor, type Session } from './harness';

const RESULT_TIMEOUT_MS = 180_000;

describe('extension-host tests in code-server', () => {
  it('the mocha suite passes inside the extension host', { timeout: 300_000 }, async () => {
    ensureExtensionHostBuild();
    const resultFile = path.join(runDir(), `extension-host-results-${process.pid}.json`);
    rmSync(resultFile, { force: true });
    let session: Session | undefined;
    try {
      session = await startSession({
        name: 'extension-host',
        installVsix: false,
        waitForCommand: false,
        files: { 'model.safetensors': { copyFrom: sample('tiny-llama', 'model.safetensors') } },
        payload: { extensionDevelopmentPath: ROOT, extensionTestsPath: EH_INDEX },
        env: { LORA_LENS_EH_RESULT_FILE: resultFile },
      });
      const started = Date.now();
      const result = await waitFor<ResultFile>(
        `the extension-host result file ${resultFile}`,
        async () =>
          existsSync(resultFile)
            ? (JSON.parse(readFileSync(resultFile, 'utf8')) as ResultFile)
            : undefined,
        RESULT_TIMEOUT_MS,
        250,
      ).catch((err: unknown) => {
        const logs = session?.saveLogs('extension-host-no-result');
        const consoleTail = session?.consoleLog.slice(-40).join('\n') ?? '';
        throw new Error(
          `${(err as Error).message}\nlogs: ${logs}\n${session?.diagnostics(40) ?? ''}\n--- browser console (tail) ---\n${consoleTail}`,
        );
      });
      recordTiming('extension-host mocha run', Date.now() - started);

      console.log(`[e2e] extension host: VS Code ${result.vscodeVersion}`);
      for (const t of result.tests) {
        const mark = t.state === 'passed' ? 'ok  ' : t.state === 'failed' ? 'FAIL' : 'skip';
        console.log(`[e2e]   ${mark} ${t.fullTitle}${t.durationMs ? ` (${t.durationMs} ms)` : ''}`);
        if (t.error) console.log(t.error.replace(/^/gm, '[e2e]        '));
      }
      if (!result.ok) console.log(`[e2e] logs: ${session.saveLogs('extension-host-failed')}`);
      assert.equal(result.runnerError, undefined, result.runnerError);
      assert.equal(result.failed, 0, `${result.failed} extension-host test(s) failed`);
      assert.ok(result.passed > 0, 'no extension-host test ran');
    } finally {
      await session?.close();
    }
  });
});
