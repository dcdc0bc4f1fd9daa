// Process bookkeeping for the end-to-end harness: everything it starts runs in its own process
// group and is stopped by PID (the whole group), on success, failure, exception, SIGINT or SIGTERM.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

interface Tracked {
  name: string;
  pid: number;
}

const tracked = new Map<number, Tracked>();
let hooksInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function killAllNow(): void {
  for (const { pid } of tracked.values()) signalGroup(pid, 'SIGKILL');
  tracked.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is still registered.
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`[e2e] ${sig}: stopping ${tracked.size} process group(s)`);
      killAllNow();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Registers a process group leader (a child spawned with `detached: true`) for cleanup. */
export function track(name: string, pid: number | undefined): void {
  if (pid === undefined) throw new Error(`${name}: no pid (spawn failed)`);
  installHooks();
  tracked.set(pid, { name, pid });
}

/** Spawns `cmd` as the leader of a new process group, registered for cleanup. */
export function spawnTracked(
  name: string,
  cmd: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(cmd, args, { ...options, detached: true });
  track(name, child.pid);
  return child;
}

/** Stops a tracked process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGroup(pid: number | undefined, graceMs = 3000): Promise<void> {
  if (pid === undefined) return;
  tracked.delete(pid);
  if (!alive(pid)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  signalGroup(pid, 'SIGKILL');
}

export function trackedCount(): number {
  return tracked.size;
}
