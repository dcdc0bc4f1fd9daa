/**
 * runSmoke: the whole smoke test of one adapter on one base. Opens the pair (mapping file and
 * overrides applied), plans the modules, climbs the EP ladder, runs each module's graph one at a time
 * (never more than one module's tensors in memory), then, for an ONNX base, the whole-model check.
 * Runs inside the child process that hosts onnxruntime; the module is passed in, never imported here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openMappedPair, type MappedPair } from '../mapping/mappedPair.js';
import { chooseEp, linkCudaProviders, probeCuda } from './ep.js';
import { checkEffect } from './effectCheck.js';
import { checkModule } from './moduleCheck.js';
import { checkWholeModel } from './model/index.js';
import { planModules, type PlannedModule } from './modulePlan.js';
import { SessionCache } from './sessions.js';
import { Float32Scratch } from '../formats/floatDecode.js';
import {
  SmokeError,
  type EpName,
  type SmokeEvent,
  type SmokeModelResult,
  type SmokeModuleResult,
  type SmokeReport,
  type SmokeRequest,
  type SmokeSwitchResult,
} from './types.js';

export type OrtModule = typeof import('onnxruntime-node');

export interface RunSmokeOptions {
  onEvent?: (e: SmokeEvent) => void;
  signal?: AbortSignal;
  /** folder for temp files (profiling, merged model) */
  tempDir?: string;
  /** where libonnxruntime.so.1 lives (for the CUDA probe); default: derived from require.resolve('onnxruntime-node') by the caller */
  ortLibDir?: string;
}

const DEFAULT_BATCH = 4;
const MAX_BATCH = 256;

/** bin/napi-v6/<platform>/<arch> of the installed onnxruntime-node, or null when it cannot be found. */
function defaultOrtLibDir(): string | null {
  try {
    const main = require.resolve('onnxruntime-node');
    return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

function cancelled(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new SmokeError('SmokeCancelled', `smoke test cancelled ${where}`);
}

/** A tiny run that proves an EP can create and run a session (and warms the linear session). */
async function tryEp(ort: OrtModule, cache: SessionCache): Promise<void> {
  const T = ort.Tensor;
  await cache.run(
    { variant: 'linear' },
    {
      x: new T('float32', Float32Array.of(1, 2), [1, 2]),
      w: new T('float32', Float32Array.of(1, 0, 0, 1), [2, 2]),
      a: new T('float32', Float32Array.of(1, 1), [1, 2]),
      b: new T('float32', Float32Array.of(1, -1), [2, 1]),
      s: new T('float32', Float32Array.of(0.5), [1]),
    },
  );
}

/** Why nothing can be tested, from the skipped modules' reasons (counted). */
function nothingToTest(
  pair: MappedPair,
  planned: readonly PlannedModule[],
  req: SmokeRequest,
): string {
  const a = pair.analysis;
  if (a.modules.length === 0) return `the adapter has no LoRA modules (family: ${a.familyLabel})`;
  if (planned.length === 0)
    return `none of the requested modules (${(req.modules ?? []).join(', ')}) is a module of the adapter`;
  if (pair.mapping.mappings.length === 0)
    return `no adapter module is mapped to a base parameter (${a.modules.length} modules, none matched)`;
  const reasons = new Map<string, number>();
  for (const p of planned) {
    if (p.kind !== 'decided') continue;
    const why = p.result.checks[0]?.message.replace(/\s*\(.*$/, '') ?? 'skipped';
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  return `no module can be tested: ${[...reasons].map(([w, n]) => `${n} × ${w}`).join('; ')}`;
}

const percent = (x: number): string => `${(x * 100).toFixed(x < 0.001 ? 3 : 1)}%`;

function failedChecks(m: SmokeModuleResult): string {
  return [...new Set(m.checks.filter((c) => !c.ok).map((c) => c.name))].join(', ');
}

/** The one line a person reads first. */
export function verdictOf(
  ep: EpName,
  modules: readonly SmokeModuleResult[],
  model: SmokeModelResult | null,
): string {
  const tested = modules.filter((m) => m.status !== 'skipped');
  const failed = tested.filter((m) => !m.ok);
  const warned = tested.filter((m) => m.status === 'warn');
  const skipped = modules.length - tested.length;
  const parts = [`${tested.length - failed.length}/${tested.length} modules pass on ${ep}`];
  if (failed.length > 0) {
    const named = failed
      .slice(0, 3)
      .map((m) => `${m.module.replace(/^base_model\.model\./, '')} (${failedChecks(m)})`);
    parts.push(
      `${failed.length} fail: ${named.join(', ')}${failed.length > 3 ? `, +${failed.length - 3} more` : ''}`,
    );
  }
  if (warned.length > 0) parts.push(`${warned.length} with warnings`);
  if (skipped > 0) parts.push(`${skipped} skipped`);
  if (model) {
    const change = Math.max(0, ...model.outputs.map((o) => o.relativeChange));
    parts.push(
      model.ok
        ? `model output changes by ${percent(change)}`
        : `model check fails: ${model.problems[0] ?? 'outputs do not match'}`,
    );
  }
  return parts.join('; ');
}

export async function runSmoke(
  req: SmokeRequest,
  ort: OrtModule,
  options: RunSmokeOptions = {},
): Promise<SmokeReport> {
  const t0 = performance.now();
  const emit = options.onEvent ?? ((): void => undefined);
  const signal = options.signal;
  const batch = Math.min(MAX_BATCH, Math.max(1, Math.floor(req.batch ?? DEFAULT_BATCH)));
  cancelled(signal, 'before it started');

  emit({ type: 'phase', phase: 'open', message: `opening ${req.adapterPath} and ${req.basePath}` });
  const pair = await openMappedPair({
    adapterPath: req.adapterPath,
    basePath: req.basePath,
    ...(req.mappingPath !== undefined ? { mappingPath: req.mappingPath } : {}),
    ...(req.overrides ? { overrides: req.overrides } : {}),
    ...(req.hub ? { hub: req.hub } : {}),
  });
  let made: string | null = null;
  let cache: SessionCache | null = null;
  try {
    const tempDir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'lora-lens-smoke-'));
    made = tempDir;
    const { planned, unknownModules } = planModules(pair, req);
    const testable = planned.filter((p) => p.kind !== 'decided').length;
    const decidedFailures = planned.filter((p) => p.kind === 'decided' && !p.result.ok).length;
    if (testable + decidedFailures === 0)
      throw new SmokeError('NothingToTest', nothingToTest(pair, planned, req));
    cancelled(signal, 'after opening the checkpoints');

    emit({ type: 'phase', phase: 'ep', message: `trying ${req.eps.join(' → ')}` });
    const libDir = options.ortLibDir || defaultOrtLibDir();
    const linked =
      req.eps.includes('cuda') && libDir ? linkCudaProviders(libDir, req.cudaProviderPath) : null;
    if (linked) emit({ type: 'phase', phase: 'ep', message: linked });
    const caches = new Map<EpName, SessionCache>();
    const chosen = await chooseEp(
      req.eps,
      async (ep) => {
        const c = new SessionCache(ort, ep, { tempDir });
        caches.set(ep, c);
        await tryEp(ort, c);
      },
      (ep) => (ep === 'cuda' && libDir ? probeCuda(libDir, req.cudaProviderPath) : null),
      (attempt) => emit({ type: 'ep', attempt }),
    );
    for (const [ep, c] of caches) if (ep !== chosen.ep) await c.release();
    if (chosen.ep === null)
      throw new SmokeError(
        'NoExecutionProvider',
        `no execution provider worked: ${chosen.tried.map((t) => `${t.ep}: ${t.error ?? 'ok'}`).join('; ')}`,
      );
    const ep = chosen.ep;
    cache = caches.get(ep) ?? new SessionCache(ort, ep, { tempDir });

    emit({
      type: 'phase',
      phase: 'modules',
      message: `${testable} of ${planned.length} modules to run on ${ep}`,
    });
    const tm = performance.now();
    const modules: SmokeModuleResult[] = [];
    const ctx = {
      ort,
      sessions: cache,
      adapter: pair.adapter,
      base: pair.base,
      batch,
      scratch: new Float32Scratch(),
    };
    for (const [index, p] of planned.entries()) {
      cancelled(signal, `after ${index} of ${planned.length} modules`);
      const result =
        p.kind === 'test'
          ? await checkModule(ctx, p.plan)
          : p.kind === 'effect'
            ? await checkEffect(ctx, p.plan)
            : p.result;
      modules.push(result);
      emit({ type: 'module', index, total: planned.length, result });
    }
    const modulesMs = performance.now() - tm;

    let model: SmokeModelResult | null = null;
    let switching: SmokeSwitchResult | null = null;
    let modelMs = 0;
    if (pair.base.format === 'onnx' && !req.skipModel) {
      cancelled(signal, 'before the whole-model check');
      emit({ type: 'phase', phase: 'model', message: `whole-model check of ${req.basePath}` });
      const tmodel = performance.now();
      // Module sessions are done with: free them before the model loads.
      await cache.release();
      try {
        ({ model, switching } = await checkWholeModel(ort, ep, pair, req, {
          ...(signal ? { signal } : {}),
          tempDir,
        }));
      } catch (e) {
        if (e instanceof SmokeError) throw e;
        model = {
          ok: false,
          patched: 0,
          inputs: req.referencePath ? 'reference' : 'generated',
          outputs: [],
          ms: performance.now() - tmodel,
          problems: [`the whole-model check failed: ${e instanceof Error ? e.message : String(e)}`],
        };
      }
      modelMs = performance.now() - tmodel;
    }

    const placement = cache.placement();
    const warnings = [...pair.warnings, ...(linked?.startsWith('could not') ? [linked] : [])];
    if (unknownModules.length > 0)
      warnings.push(`not modules of the adapter: ${unknownModules.join(', ')}`);
    if (placement && placement.fellBack.length > 0)
      warnings.push(`on ${ep}, nodes fell back to the CPU: ${placement.fellBack.join(', ')}`);
    const tested = modules.filter((m) => m.status !== 'skipped');
    return {
      ok: tested.length > 0 && tested.every((m) => m.ok) && (model?.ok ?? true),
      ep,
      epTried: chosen.tried,
      placement: placement
        ? placement.lines.join('; ') || 'no session was profiled'
        : 'not profiled: the CPU EP runs every node itself',
      modules,
      model,
      switching,
      timings: {
        totalMs: performance.now() - t0,
        sessionMs: cache.sessionMs,
        modulesMs,
        modelMs,
      },
      verdict: verdictOf(ep, modules, model),
      warnings,
    };
  } finally {
    await cache?.release();
    await pair.close();
    if (made) await rm(made, { recursive: true, force: true });
  }
}
