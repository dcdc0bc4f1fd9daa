/**
 * One ORT session per graph variant, created on first use and reused for every module of that variant
 * (the module's tensors are feeds). On an EP other than the CPU, each variant's first run is profiled
 * to see where its nodes actually ran (onnxruntime.md §4); outputs always come back to the CPU (§7).
 */
import type * as Ort from 'onnxruntime-node';
import { describePlacement, parseProfile, takeProfile } from './ep.js';
import { buildModuleGraph, graphSignature, type GraphSpec } from './graphs.js';
import type { EpName } from './types.js';

type OrtModule = typeof import('onnxruntime-node');

export interface SessionCacheOptions {
  /** Where profiles are written (and deleted once read). */
  readonly tempDir: string;
  /** Profile each variant's first run (default: when the EP is not the CPU). */
  readonly profile?: boolean;
}

export interface PlacementReport {
  readonly lines: readonly string[];
  /** `variant: op` for every op type that did not run on the chosen EP. */
  readonly fellBack: readonly string[];
}

interface Entry {
  readonly session: Ort.InferenceSession;
  profiling: boolean;
}

export class SessionCache {
  private readonly sessions = new Map<string, Promise<Entry>>();
  private readonly placementLines: string[] = [];
  private readonly fellBack: string[] = [];
  private readonly profile: boolean;
  /** Time spent creating sessions. */
  sessionMs = 0;
  created = 0;

  constructor(
    private readonly ort: OrtModule,
    readonly ep: EpName,
    private readonly options: SessionCacheOptions,
  ) {
    this.profile = options.profile ?? ep !== 'cpu';
  }

  private prefixName(signature: string): string {
    return `profile-${this.ep}-${signature.replace(/[^a-z0-9]+/gi, '_')}`;
  }

  private async create(spec: GraphSpec): Promise<Entry> {
    const t0 = performance.now();
    const signature = graphSignature(spec);
    const options: Ort.InferenceSession.SessionOptions = {
      executionProviders: [this.ep],
      preferredOutputLocation: 'cpu',
      logSeverityLevel: 3,
      ...(this.profile
        ? {
            enableProfiling: true,
            profileFilePrefix: `${this.options.tempDir}/${this.prefixName(signature)}`,
          }
        : {}),
    };
    try {
      const session = await this.ort.InferenceSession.create(buildModuleGraph(spec), options);
      this.created++;
      return { session, profiling: this.profile };
    } finally {
      this.sessionMs += performance.now() - t0;
    }
  }

  private entry(spec: GraphSpec): Promise<Entry> {
    const key = graphSignature(spec);
    let e = this.sessions.get(key);
    if (!e) {
      e = this.create(spec);
      // A failed create is not cached: the caller reports it, a later module may retry.
      e.catch(() => this.sessions.delete(key));
      this.sessions.set(key, e);
    }
    return e;
  }

  /** Runs the variant's graph on `feeds`; outputs by name, as float32 on the CPU. */
  async run(
    spec: GraphSpec,
    feeds: Record<string, Ort.Tensor>,
  ): Promise<Record<string, Float32Array>> {
    const entry = await this.entry(spec);
    const out = await entry.session.run(feeds);
    const result: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(out)) {
      result[name] = t.data as Float32Array;
    }
    if (entry.profiling) {
      entry.profiling = false;
      this.readProfile(entry.session, graphSignature(spec));
    }
    return result;
  }

  private readProfile(session: Ort.InferenceSession, signature: string): void {
    try {
      session.endProfiling();
      const text = takeProfile(this.options.tempDir, this.prefixName(signature));
      if (text === null) {
        this.placementLines.push(`${signature}: ORT wrote no profile`);
        return;
      }
      const p = describePlacement(signature, this.ep, parseProfile(text));
      this.placementLines.push(p.line);
      this.fellBack.push(...p.fellBack.map((op) => `${signature}: ${op}`));
    } catch (e) {
      this.placementLines.push(
        `${signature}: profile unreadable (${e instanceof Error ? e.message : String(e)})`,
      );
    }
  }

  placement(): PlacementReport | null {
    if (!this.profile) return null;
    return { lines: [...this.placementLines], fellBack: [...this.fellBack] };
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const p of all) {
      try {
        await (await p).session.release();
      } catch {
        // Never created, or already gone: nothing to free.
      }
    }
  }
}
