/**
 * The one message protocol between the extension host and the editor webview. Both sides import this
 * file, so a renamed field fails to compile on both ends.
 *
 * - Requests carry an `id`; the answer is a response with the same `id` (result or error).
 * - The webview speaks first: `ready`. The host posts nothing before answering it, so no message is
 *   lost to a webview that is still loading (the race other viewers have).
 * - Notifications flow host → webview and have no answer.
 * - Large data is paged: the webview asks for windows of rows, never for the whole header.
 * - Every message is checked on arrival (messageValidation.ts): declared fields, types and bounds only.
 */
import type {
  CompareReadyResult,
  CompareRowsResult,
  CompareSection,
  CompareSummaryDto,
} from './compareProtocol.js';
import { checkHostMessage, checkRequest } from './messageValidation.js';
import type { BaseModelDto, CoverageDto, ModelDto } from './modelProtocol.js';

export type Grouping = 'tree' | 'flat' | 'module';

export interface Totals {
  readonly tensors: number;
  readonly params: number;
  readonly bytes: number;
}

export interface TreeStateDto {
  readonly version: number;
  readonly rowCount: number;
  readonly query: string;
  readonly grouping: Grouping;
  readonly shown: Totals;
  readonly total: Totals;
}

export interface TreeRowDto {
  readonly id: number;
  readonly kind: 'group' | 'tensor';
  readonly depth: number;
  readonly label: string;
  readonly path: string;
  readonly expanded?: boolean;
  readonly totals: Totals;
  readonly dtype?: string;
  readonly shape?: readonly number[];
  readonly match?: readonly number[];
  /** Not a model weight: optimizer or scheduler state, a buffer. */
  readonly role?: string;
  /** The file holding the data (a shard, ONNX external data). */
  readonly file?: string;
  /** ONNX: the node that reads this initializer. */
  readonly usedBy?: string;
  /** Group rows: e.g. a LoRA module's kind, rank, alpha and scale. */
  readonly note?: string;
  /** Base tree: `mapped` when an adapter module patches this parameter, `unused` for an unpatched usual target. */
  readonly mark?: 'mapped' | 'unused';
  /** A quantized weight: how many stored parts are folded under it (its scheme is in `note`). */
  readonly parts?: number;
}

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface MetadataEntryDto {
  readonly key: string;
  readonly value: string;
  readonly length: number;
  readonly truncated: boolean;
  readonly parsed?: JsonValue;
}

export interface DtypeStatsDto {
  readonly dtype: string;
  readonly tensors: number;
  readonly parameters: number;
  readonly bytes: number;
}

export interface HistogramDto {
  readonly value: string | number | null;
  readonly count: number;
}

/** The adapter at a glance: what the LoRA analysis found, in a size that fits any adapter. */
export interface LoraSummaryDto {
  readonly family: string;
  readonly familyLabel: string;
  readonly evidence: readonly string[];
  readonly modules: number;
  readonly kinds: readonly HistogramDto[];
  readonly ranks: readonly HistogramDto[];
  readonly alphas: readonly HistogramDto[];
  readonly scales: readonly HistogramDto[];
  readonly targets: readonly HistogramDto[];
  readonly alphaOrigins: readonly HistogramDto[];
  readonly scaleRules: readonly string[];
  readonly layers: readonly { readonly stack: string; readonly indices: readonly number[] }[];
  readonly nonLora: readonly {
    readonly category: string;
    readonly count: number;
    readonly example: string;
    readonly reason: string;
  }[];
  /** Modules whose alpha sources disagree, with every source and which one won (first 50). */
  readonly conflicts: readonly {
    readonly module: string;
    readonly sources: readonly {
      readonly origin: string;
      readonly key?: string;
      readonly alpha: number | null;
      readonly used: boolean;
      readonly note?: string;
    }[];
  }[];
  readonly warnings: readonly string[];
}

export interface SummaryDto {
  readonly fileName: string;
  readonly format: string;
  readonly fileSize: number;
  readonly headerBytes: number;
  readonly dataBytes: number;
  readonly tensorCount: number;
  readonly parameterCount: number;
  readonly dtypes: readonly DtypeStatsDto[];
  readonly metadata: readonly MetadataEntryDto[];
  /** Side files such as config.json and adapter_config.json, parsed. */
  readonly configs: readonly MetadataEntryDto[];
  /** Plain values stored beside the tensors (epoch, step, hyper-parameters). */
  readonly values: readonly MetadataEntryDto[];
  /** Problems that did not stop the file from opening. */
  readonly warnings: readonly string[];
  readonly lora?: LoraSummaryDto;
  /** Quantized weights (GPTQ, AWQ, bitsandbytes, FP8, compressed-tensors, GGUF blocks), when any. */
  readonly quantization?: QuantizationDto;
  /**
   * A model (not an adapter) has a model report (what it is, parameters by part, memory): true here,
   * the report itself comes from the `fileModel` request, after the first paint.
   */
  readonly hasModel?: boolean;
  /** An adapter: the layers × module types it patches. */
  readonly coverage?: CoverageDto;
  /** How the file was read: header ranges of a local file, or whole through the workspace file system. */
  readonly access: 'ranged' | 'whole';
  readonly openMs: number;
}

/** formats/quant/summary.ts's QuantSummary, as the Overview shows it. */
export interface QuantizationDto {
  readonly schemes: readonly {
    readonly scheme: string;
    readonly label: string;
    readonly weights: number;
    readonly parameters: number;
    readonly storedBytes: number;
    readonly bitsPerWeight: number;
  }[];
  readonly quantizedWeights: number;
  readonly quantizedParameters: number;
  readonly storedBytes: number;
  readonly bytesAt16Bit: number;
  readonly savedBytes: number;
  readonly floatParameters: number;
}

export interface ErrorDto {
  readonly code: string;
  readonly message: string;
  readonly subject?: string;
}

/** Per-module statistics for the chart: ‖scale·ΔW‖_F per module and per layer. */
export interface StatsDto {
  readonly modules: number;
  readonly ms: number;
  readonly rows: readonly {
    readonly module: string;
    readonly layer: number | null;
    readonly stack: string | null;
    readonly type: string;
    readonly scale: number | null;
    readonly norm: number | null;
  }[];
  readonly totals: readonly {
    readonly layer: number | null;
    readonly stack: string | null;
    readonly norm: number;
    readonly byType: Readonly<Record<string, number>>;
    readonly unknown: number;
  }[];
  readonly warnings: readonly string[];
}

export interface MappingRowDto {
  readonly module: string;
  /** The module's target in its own family's naming (e.g. lora_unet_…_proj_in). */
  readonly moduleTarget: string;
  readonly kind: string;
  readonly rank: number | null;
  readonly target: string | null;
  readonly confidence: number;
  readonly level: 'high' | 'medium' | 'low';
  readonly reason: string;
  readonly shapeCheck: string;
  readonly transposed: boolean;
  readonly slice: { readonly axis: number; readonly start: number; readonly end: number } | null;
  readonly source: 'matcher' | 'user';
  readonly alternatives: readonly {
    readonly target: string;
    readonly confidence: number;
    readonly reason: string;
  }[];
}

/** What every path of a Mapping column shares, said once in its header. */
export interface SharedPathDto {
  readonly prefix: string;
  readonly suffix: string;
}

/**
 * The Mapping table as the host keeps it: rows stay there (sorted: unmatched first, then the least
 * sure), the webview pages them with `mappingRows`. A new version drops the webview's pages.
 */
export interface MappingTableDto {
  readonly version: number;
  /** Rows that pass the filter. */
  readonly rowCount: number;
  /** Every row (mapped, unmatched and rejected modules). */
  readonly total: number;
  readonly query: string;
  readonly selected: number;
  /** What the shown rows' module and target paths share. */
  readonly shared: { readonly module: SharedPathDto; readonly target: SharedPathDto };
}

export const NO_MAPPING_TABLE: MappingTableDto = {
  version: 0,
  rowCount: 0,
  total: 0,
  query: '',
  selected: 0,
  shared: { module: { prefix: '', suffix: '' }, target: { prefix: '', suffix: '' } },
};

/** The Mapping tab: the chosen base and the adapter → base mapping (its rows paged: `mappingRows`). */
export interface MappingViewDto {
  readonly base: {
    readonly ref: string;
    readonly label: string;
    readonly format: string;
    readonly tensors: number;
  } | null;
  readonly baseError?: ErrorDto;
  readonly table: MappingTableDto;
  readonly unmatchedAdapter: readonly string[];
  /** Usual LoRA targets of the base that nothing patches (first 500). */
  readonly unusedBase: readonly string[];
  readonly unusedBaseCount: number;
  readonly conflicts: readonly {
    readonly module: string;
    readonly target: string | null;
    readonly reason: string;
  }[];
  readonly counts: {
    readonly mapped: number;
    readonly unmatched: number;
    readonly high: number;
    readonly medium: number;
    readonly low: number;
    readonly user: number;
  };
}

/** The Mapping tab before a base model is chosen. */
export const NO_MAPPING: MappingViewDto = {
  base: null,
  table: NO_MAPPING_TABLE,
  unmatchedAdapter: [],
  unusedBase: [],
  unusedBaseCount: 0,
  conflicts: [],
  counts: { mapped: 0, unmatched: 0, high: 0, medium: 0, low: 0, user: 0 },
};

/**
 * The smoke test as the webview sees it. These mirror src/core/smoke/types.ts (which the webview cannot
 * import: its type imports reach Node modules); the host assigns one to the other, so a drift fails to
 * compile there.
 */
export type SmokeEpDto = 'cuda' | 'webgpu' | 'cpu';
export type SmokeStatusDto = 'pass' | 'warn' | 'fail' | 'skipped';

export interface SmokeCheckDto {
  readonly name: string;
  readonly ok: boolean;
  readonly severity: 'error' | 'warning' | 'info';
  readonly message: string;
}

export interface SmokeModuleDto {
  readonly module: string;
  readonly target: string | null;
  readonly variant: string | null;
  readonly ok: boolean;
  readonly status: SmokeStatusDto;
  readonly maxAbsErr: number | null;
  readonly deltaRatio: number | null;
  readonly ms: number;
  readonly checks: readonly SmokeCheckDto[];
}

export interface SmokeReportDto {
  readonly ok: boolean;
  readonly ep: SmokeEpDto | null;
  readonly epTried: readonly { readonly ep: SmokeEpDto; readonly error: string | null }[];
  readonly placement: string | null;
  readonly modules: readonly SmokeModuleDto[];
  readonly model: {
    readonly ok: boolean;
    readonly patched: number;
    readonly inputs: 'reference' | 'generated';
    readonly outputs: readonly {
      readonly name: string;
      readonly shape: readonly number[];
      readonly finite: boolean;
      readonly relativeChange: number;
      readonly maxAbsErrVsReference: number | null;
      readonly ok: boolean;
    }[];
    readonly ms: number;
    readonly problems: readonly string[];
  } | null;
  readonly switching: {
    readonly adapters: number;
    readonly switchMs: number;
    readonly rebuildMs: number;
  } | null;
  readonly timings: {
    readonly totalMs: number;
    readonly sessionMs: number;
    readonly modulesMs: number;
    readonly modelMs: number;
  };
  readonly verdict: string;
  readonly warnings: readonly string[];
}

/** Streamed while a run goes on: phases, EP attempts, and each module's row as it finishes. */
export type SmokeEventDto =
  | { readonly type: 'phase'; readonly phase: string; readonly message: string }
  | {
      readonly type: 'ep';
      readonly attempt: { readonly ep: SmokeEpDto; readonly error: string | null };
    }
  | {
      readonly type: 'module';
      readonly index: number;
      readonly total: number;
      readonly result: SmokeModuleDto;
    };

/** The Smoke tab's state: whether a run can start, whether one is running, and the last outcome. */
export interface SmokeViewDto {
  /** Why the button is disabled (untrusted workspace, not a local file, no base); null when it can run. */
  readonly blocked: string | null;
  readonly running: boolean;
  /** The run in progress: the rows finished so far (a reopened webview picks up from here). */
  readonly live: {
    readonly rows: readonly SmokeModuleDto[];
    readonly total: number;
    readonly message: string;
  } | null;
  /** The last finished run for this adapter and base (remembered across sessions). */
  readonly last: {
    readonly report: SmokeReportDto;
    /** Epoch ms of the end of the run. */
    readonly at: number;
    readonly base: string;
  } | null;
  /** The last run failed before producing a report (a SmokeError: no EP, crash, timeout, …). */
  readonly error: ErrorDto | null;
}

export const NO_SMOKE: SmokeViewDto = {
  blocked: null,
  running: false,
  live: null,
  last: null,
  error: null,
};

/** Display switches the webview reads once per load (settings; a change reloads the webview). */
export interface UiOptionsDto {
  /** `loraLens.charts.enabled`. */
  readonly charts: boolean;
}

export type ReadyResult =
  | {
      readonly ok: true;
      readonly summary: SummaryDto;
      /** Absent for a large file: its tree is built once the summary is painted (ask `rows`). */
      readonly tree?: TreeStateDto;
      readonly ui?: UiOptionsDto;
    }
  | { readonly ok: false; readonly fileName: string; readonly error: ErrorDto };

/** webview → host requests: method → params and result. */
/** Which tree a tree request is about: the opened file's (default) or its base model's (Mapping tab). */
export interface OnTree {
  readonly tree?: 'file' | 'base';
}

export interface Requests {
  ready: { params: Record<string, never>; result: ReadyResult };
  rows: {
    params: { start: number; count: number } & OnTree;
    result: { state: TreeStateDto; start: number; rows: TreeRowDto[] };
  };
  /** `rows`: also send the first that many rows of the new state (a filter starts at the top). */
  setQuery: {
    params: { query: string; rows?: number } & OnTree;
    result: TreeStateDto & { readonly firstRows?: readonly TreeRowDto[] };
  };
  setGrouping: { params: { grouping: Grouping } & OnTree; result: TreeStateDto };
  setExpanded: { params: { id: number; expanded?: boolean } & OnTree; result: TreeStateDto };
  expandAll: { params: OnTree; result: TreeStateDto };
  collapseAll: { params: OnTree; result: TreeStateDto };
  reveal: { params: { path: string } & OnTree; result: { state: TreeStateDto; row: number } };
  metadataValue: { params: { key: string }; result: MetadataEntryDto };
  copyText: { params: { text: string; what: string }; result: null };
  /** The current base and mapping (null base when none is chosen). */
  mapping: { params: Record<string, never>; result: MappingViewDto };
  /** A window of the Mapping table's filtered rows. */
  mappingRows: {
    params: { start: number; count: number };
    result: { state: MappingTableDto; start: number; rows: MappingRowDto[] };
  };
  /** Filters the Mapping table (module or target contains the text); the selection goes to the top. */
  mappingQuery: { params: { query: string }; result: MappingTableDto };
  /** The selected row of the Mapping table (kept in the host, so a reopened tab keeps it). */
  mappingSelect: { params: { index: number }; result: MappingTableDto };
  /** The Mapping table's state: version, row counts, filter, selection. */
  mappingTable: { params: Record<string, never>; result: MappingTableDto };
  /** Opens the base model picker in the host. */
  selectBase: { params: Record<string, never>; result: MappingViewDto };
  /** A user decision: target a module at a base parameter (accept / re-target), or at nothing (reject). */
  setOverride: { params: { module: string; target: string | null }; result: MappingViewDto };
  /** Back to the matcher's suggestion for a module. */
  clearOverride: { params: { module: string }; result: MappingViewDto };
  /** Pick a new target from the alternatives or the whole base (a quick pick in the host). */
  retarget: { params: { module: string }; result: MappingViewDto };
  /** Streams every module's tensors once (cached per file); the host shows progress with Cancel. */
  computeStats: { params: Record<string, never>; result: StatsDto };
  /** The opened model's own report (summary.hasModel), computed on first ask and kept. */
  fileModel: { params: Record<string, never>; result: { model: ModelDto | null } };
  /** An adapter's base model report (architecture, memory at this adapter's rank), once a base is chosen. */
  baseModel: { params: Record<string, never>; result: BaseModelDto };
  /** The Smoke tab's state (the last report of this adapter and base, or why a run cannot start). */
  smoke: { params: Record<string, never>; result: SmokeViewDto };
  /** The toolbar button: runs "Run GPU Smoke Test" for this editor; the outcome comes as notifications. */
  runSmoke: { params: Record<string, never>; result: null };
  /** Stops the running smoke test of this editor (the same as the notification's Cancel). */
  cancelSmoke: { params: Record<string, never>; result: null };

  // The Compare view (its own panel, its own handlers).
  /** The first message of the Compare view: the two sides and the size of every list. */
  compareReady: { params: Record<string, never>; result: CompareReadyResult };
  /** A page of one list. */
  compareRows: {
    params: { section: CompareSection; start: number; count: number };
    result: CompareRowsResult;
  };
  /** Reads both adapters' tensors and adds ‖ΔW_A − ΔW_B‖ per module; the new summary. */
  compareNorms: { params: Record<string, never>; result: CompareSummaryDto };
}

/** The Compare view's requests; every other request belongs to the checkpoint editor. */
export type CompareMethod = 'compareReady' | 'compareRows' | 'compareNorms';
export type EditorMethod = Exclude<keyof Requests, CompareMethod>;

/** host → webview notifications. */
export interface Notifications {
  /** The file changed on disk; the webview should start over with `ready`. */
  reload: Record<string, never>;
  /** Focus the filter box (command or keybinding in the host). */
  focusFilter: Record<string, never>;
  /** The base model or the mapping changed outside the webview (palette command). */
  mappingChanged: Record<string, never>;
  /** A run started or ended, or what blocks one changed; `reveal` asks to show the Smoke tab. */
  smokeChanged: { readonly view: SmokeViewDto; readonly reveal: boolean };
  /** Progress of the running smoke test. */
  smokeEvent: SmokeEventDto;
}

export type Method = keyof Requests;

export type Message =
  | {
      readonly kind: 'request';
      readonly id: number;
      readonly method: Method;
      readonly params: unknown;
    }
  | {
      readonly kind: 'response';
      readonly id: number;
      readonly result?: unknown;
      readonly error?: ErrorDto;
    }
  | {
      readonly kind: 'notification';
      readonly method: keyof Notifications;
      readonly params: unknown;
    };

export type Handlers = {
  [M in Method]: (
    params: Requests[M]['params'],
  ) => Requests[M]['result'] | Promise<Requests[M]['result']>;
};

/** Host side: answers the requests of one view (`M`: the editor's or the Compare view's). */
export class HostEndpoint<M extends Method = EditorMethod> {
  constructor(
    private readonly post: (message: Message) => void,
    private readonly handlers: Pick<Handlers, M>,
  ) {}

  /** Called with the reason whenever a message is refused (the host logs it). */
  onInvalid: ((reason: string) => void) | undefined;

  async receive(raw: unknown): Promise<void> {
    const checked = checkRequest(raw);
    if (!checked.ok) {
      // A refused request with an id is answered, so the webview's promise does not hang.
      if (checked.id !== null)
        this.post({ kind: 'response', id: checked.id, error: checked.error });
      this.onInvalid?.(checked.error.message);
      return;
    }
    const message = checked.message;
    const { id, method } = message;
    const handler = (this.handlers as Partial<Handlers>)[method] as
      ((p: unknown) => unknown) | undefined;
    try {
      if (!handler)
        throw Object.assign(new Error(`unknown method ${String(method)}`), {
          code: 'UnknownMethod',
        });
      const result = await handler(message.params ?? {});
      this.post({ kind: 'response', id, result });
    } catch (e) {
      const err = e as { code?: unknown; message?: unknown; subject?: unknown };
      this.post({
        kind: 'response',
        id,
        error: {
          code: typeof err.code === 'string' ? err.code : 'InternalError',
          message: typeof err.message === 'string' ? err.message : String(e),
          ...(typeof err.subject === 'string' ? { subject: err.subject } : {}),
        },
      });
    }
  }

  notify<N extends keyof Notifications>(method: N, params: Notifications[N]): void {
    this.post({ kind: 'notification', method, params });
  }
}

export class RequestError extends Error {
  constructor(readonly error: ErrorDto) {
    super(error.message);
  }
}

/** Webview side: sends requests and awaits the matching response. */
export class WebviewEndpoint {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private readonly listeners = new Map<keyof Notifications, (params: unknown) => void>();

  constructor(private readonly post: (message: Message) => void) {}

  request<M extends Method>(
    method: M,
    params: Requests[M]['params'],
  ): Promise<Requests[M]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.post({ kind: 'request', id, method, params });
    });
  }

  on<N extends keyof Notifications>(method: N, listener: (params: Notifications[N]) => void): void {
    this.listeners.set(method, listener as (params: unknown) => void);
  }

  receive(raw: unknown): void {
    const message = checkHostMessage(raw);
    if (!message) return;
    if (message.kind === 'response') {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (message.error) p.reject(new RequestError(message.error));
      else p.resolve(message.result);
    } else if (message.kind === 'notification') {
      this.listeners.get(message.method)?.(message.params);
    }
  }
}
