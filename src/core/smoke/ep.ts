/**
 * Choosing the execution provider. ORT has no automatic fallback from Node (`['cuda','cpu']` throws at
 * create when CUDA cannot load, onnxruntime.md §4), so we climb our own ladder: try each EP with a
 * tiny session, record why the others failed, and skip CUDA without trying when its provider
 * libraries are absent (trying prints a page of loader errors to stderr). Then check, by profiling,
 * where the nodes actually ran: ORT silently puts nodes without a kernel on the CPU.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { EpAttempt, EpName } from './types.js';

export async function chooseEp(
  ladder: readonly EpName[],
  tryEp: (ep: EpName) => Promise<void>,
  probe?: (ep: EpName) => string | null,
  onAttempt?: (attempt: EpAttempt) => void,
): Promise<{ ep: EpName | null; tried: EpAttempt[] }> {
  const tried: EpAttempt[] = [];
  const record = (a: EpAttempt): void => {
    tried.push(a);
    onAttempt?.(a);
  };
  for (const ep of ladder) {
    const absent = probe?.(ep) ?? null;
    if (absent !== null) {
      record({ ep, error: `skipped: ${absent}` });
      continue;
    }
    try {
      await tryEp(ep);
      record({ ep, error: null });
      return { ep, tried };
    } catch (e) {
      record({ ep, error: firstLines(e instanceof Error ? e.message : String(e)) });
    }
  }
  return { ep: null, tried };
}

/** ORT messages can carry a whole log; keep what a person reads. */
function firstLines(message: string, max = 3): string {
  const lines = message.split('\n').filter((l) => l.trim().length > 0);
  return lines.slice(0, max).join(' | ') + (lines.length > max ? ' | …' : '');
}

/** The provider libraries ORT loads for CUDA, named as on this platform. */
export function cudaProviderFiles(platform: NodeJS.Platform = process.platform): string[] {
  return platform === 'win32'
    ? ['onnxruntime_providers_shared.dll', 'onnxruntime_providers_cuda.dll']
    : ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
}

/**
 * ORT loads the CUDA provider libraries only from beside its own library (an absolute path built from
 * its own location), so a user's folder of them is of no use on the search path alone. When
 * `cudaProviderPath` holds them and the ORT folder does not, link them there (copy on Windows, where
 * links need privileges). That folder is LoRA Lens's own install, never a user file. Returns what was
 * done, or why it could not be, for the report; nothing when there was nothing to do.
 */
export function linkCudaProviders(
  ortLibDir: string,
  cudaProviderPath: string | undefined,
  platform: NodeJS.Platform = process.platform,
): string | null {
  if (!cudaProviderPath || platform === 'darwin') return null;
  const files = cudaProviderFiles(platform);
  const wanted = files.filter(
    (f) => !existsSync(join(ortLibDir, f)) && existsSync(join(cudaProviderPath, f)),
  );
  if (wanted.length === 0) return null;
  try {
    for (const f of wanted) {
      if (platform === 'win32') copyFileSync(join(cudaProviderPath, f), join(ortLibDir, f));
      else symlinkSync(join(cudaProviderPath, f), join(ortLibDir, f));
    }
    return `linked ${wanted.join(', ')} from ${cudaProviderPath} into ${ortLibDir}, where onnxruntime loads them`;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return `could not link the CUDA provider libraries into ${ortLibDir} (${why}); link them yourself: ${wanted
      .map((f) => `ln -s ${join(cudaProviderPath, f)} ${join(ortLibDir, f)}`)
      .join(' && ')}`;
  }
}

/**
 * Whether CUDA can be tried: null when the provider libraries look present beside libonnxruntime
 * (where ORT loads them from, onnxruntime.md §3), else why not, naming the missing file and the folder
 * looked in. `cudaProviderPath` is the user's folder of the libraries: ORT still only loads them from
 * `ortLibDir`, so finding them there but not beside ORT is reported as such.
 */
export function probeCuda(
  ortLibDir: string,
  cudaProviderPath?: string,
  platform: NodeJS.Platform = process.platform,
): string | null {
  if (platform === 'darwin') return 'CUDA is not available on macOS';
  const files = cudaProviderFiles(platform);
  const missingIn = (dir: string): string | undefined =>
    files.find((f) => !existsSync(join(dir, f)));
  const beside = missingIn(ortLibDir);
  if (beside === undefined) return null;
  if (cudaProviderPath !== undefined) {
    const there = missingIn(cudaProviderPath);
    if (there !== undefined) return `${there} not found in ${cudaProviderPath}`;
    return (
      `the CUDA provider libraries are in ${cudaProviderPath}, but onnxruntime loads them only ` +
      `from beside its own library: ${beside} not found in ${ortLibDir} (link or copy them there)`
    );
  }
  return `${beside} not found in ${ortLibDir} (the CUDA provider libraries are not installed)`;
}

/** One kernel event of an ORT profile. */
interface ProfileEvent {
  readonly cat?: string;
  readonly name?: string;
  readonly args?: { readonly op_name?: string; readonly provider?: string };
}

/** Where the nodes ran, from an ORT profile: ops by provider. */
export interface Placement {
  /** provider → op types that ran on it */
  readonly byProvider: ReadonlyMap<string, readonly string[]>;
  readonly nodes: number;
}

export function parseProfile(json: string): Placement {
  const events = JSON.parse(json) as unknown;
  const byProvider = new Map<string, Set<string>>();
  let nodes = 0;
  if (Array.isArray(events))
    for (const e of events as ProfileEvent[]) {
      const provider = e.args?.provider;
      if (e.cat !== 'Node' || !provider || !e.name?.endsWith('_kernel_time')) continue;
      nodes++;
      const ops = byProvider.get(provider) ?? new Set<string>();
      ops.add(e.args?.op_name ?? e.name);
      byProvider.set(provider, ops);
    }
  return {
    byProvider: new Map([...byProvider].map(([p, ops]) => [p, [...ops].sort()])),
    nodes,
  };
}

const EP_PROVIDER: Readonly<Record<EpName, string>> = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
};

/** Copies between host and device: ORT places them on the EP's side, whatever they are. */
const COPY_OPS = new Set(['MemcpyFromHost', 'MemcpyToHost']);

/**
 * One line about a variant's placement and whether anything fell back to the CPU. `fellBack` lists the
 * op types that ran on another provider than the chosen one.
 */
export function describePlacement(
  variant: string,
  ep: EpName,
  p: Placement,
): { line: string; fellBack: string[] } {
  const want = EP_PROVIDER[ep];
  if (p.nodes === 0) return { line: `${variant}: the profile recorded no kernels`, fellBack: [] };
  const onEp = (p.byProvider.get(want) ?? []).filter((op) => !COPY_OPS.has(op));
  const fellBack: string[] = [];
  const others: string[] = [];
  for (const [provider, ops] of p.byProvider) {
    if (provider === want) continue;
    fellBack.push(...ops);
    others.push(`${ops.join(', ')} fell back to ${provider}`);
  }
  const ran = onEp.length > 0 ? `${onEp.join(', ')} ran on ${want}` : `nothing ran on ${want}`;
  return { line: `${variant}: ${[ran, ...others].join('; ')}`, fellBack };
}

/** Reads and deletes the profile files a session wrote under `prefix` (ORT appends a timestamp). */
export function takeProfile(dir: string, prefixName: string): string | null {
  const files = readdirSync(dir).filter((f) => f.startsWith(prefixName) && f.endsWith('.json'));
  let text: string | null = null;
  for (const f of files) {
    const path = join(dir, f);
    text ??= readFileSync(path, 'utf8');
    rmSync(path, { force: true });
  }
  return text;
}
