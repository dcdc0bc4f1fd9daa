import * as vscode from 'vscode';

/** The "LoRA Lens" output channel: what was opened, how long it took, and every error. */
let channel: vscode.LogOutputChannel | undefined;

export function log(): vscode.LogOutputChannel {
  channel ??= vscode.window.createOutputChannel('LoRA Lens', { log: true });
  return channel;
}

export async function timed<T>(
  label: string,
  work: () => Promise<T>,
): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  log().info(`${label}: ${ms.toFixed(1)} ms`);
  return { value, ms };
}
