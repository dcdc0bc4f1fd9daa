/**
 * npm run bench:soak [-- N]: opens, maps and smoke-tests N adapters (default 500) in one extension host
 * of a real VS Code (code-server, the e2e harness) and prints the host's RSS, heap and handles at 0,
 * every 100 and N. The goal: no growth between the first 100 and N beyond the bounded caches
 * (see the README's reliability section): RSS within 40 MB, handles and file descriptors flat.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { SoakResult, SoakSample } from '../test/extension-host/suite/soak.test';
import { EH_INDEX, ensureExtensionHostBuild, runDir } from '../test/e2e/build';
import { ROOT, startSession, waitFor } from '../test/e2e/harness';

const COUNT = Number(process.argv[2] ?? 500);
/** Allowed growth between the sample at 100 adapters and the last one. */
const RSS_BOUND_BYTES = 40 * 1024 * 1024;

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const handles = (s: SoakSample) => Object.values(s.resources).reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  ensureExtensionHostBuild();
  const dir = runDir();
  const resultFile = path.join(dir, `soak-${process.pid}.json`);
  const ehResult = path.join(dir, `soak-eh-${process.pid}.json`);
  rmSync(resultFile, { force: true });
  const session = await startSession({
    name: 'soak',
    installVsix: false,
    waitForCommand: false,
    files: {},
    payload: { extensionDevelopmentPath: ROOT, extensionTestsPath: EH_INDEX },
    env: {
      LORA_LENS_EH_RESULT_FILE: ehResult,
      LORA_LENS_EH_GREP: 'soak',
      LORA_LENS_SOAK: String(COUNT),
      LORA_LENS_SOAK_RESULT: resultFile,
    },
  });
  try {
    const r = await waitFor<SoakResult>(
      'the soak result',
      async () =>
        existsSync(resultFile)
          ? (JSON.parse(readFileSync(resultFile, 'utf8')) as SoakResult)
          : existsSync(ehResult) && JSON.parse(readFileSync(ehResult, 'utf8')).failed
            ? Promise.reject(new Error(readFileSync(ehResult, 'utf8')))
            : undefined,
      COUNT * 20_000 + 300_000,
      1000,
    );
    console.log(
      `soak: ${r.count} adapters opened, mapped and smoke-tested in one extension host in ${(r.ms / 1000).toFixed(0)} s (${r.passed} passed)`,
    );
    console.log('  adapters  RSS          heap used    external     handles  fds');
    for (const s of r.samples)
      console.log(
        `  ${String(s.adapters).padStart(8)}  ${mib(s.rssBytes).padEnd(11)}  ${mib(s.heapUsedBytes).padEnd(11)}  ${mib(s.externalBytes).padEnd(11)}  ${String(handles(s)).padStart(7)}  ${s.fds ?? '?'}`,
      );
    const at100 = r.samples.find((s) => s.adapters === Math.min(100, r.count)) ?? r.samples[0];
    const last = r.samples[r.samples.length - 1];
    if (!at100 || !last) throw new Error('no samples');
    const growth = last.rssBytes - at100.rssBytes;
    const flat = handles(last) <= handles(at100) + 2 && (last.fds ?? 0) <= (at100.fds ?? 0) + 2;
    const met = growth <= RSS_BOUND_BYTES && flat && r.failed.length === 0;
    console.log(
      `  growth ${at100.adapters} → ${last.adapters}: RSS ${mib(growth)} (bound ${mib(RSS_BOUND_BYTES)}), handles ${handles(at100)} → ${handles(last)}, fds ${at100.fds} → ${last.fds}: ${met ? 'met' : 'NOT met'}`,
    );
    if (!met) process.exitCode = 1;
  } finally {
    await session.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
