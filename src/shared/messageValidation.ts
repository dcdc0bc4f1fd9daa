/**
 * Checks every message that crosses the webview boundary before anyone acts on it. A webview is a
 * browser page: a bug there, or a compromised page, can post anything the structured clone carries
 * (NaN, BigInt, Maps, 10 MB strings, cycles). The host answers only requests whose params have exactly
 * the declared fields, types and bounds; the webview accepts only well-formed responses and
 * notifications. Each refusal says which field broke which rule.
 */
import { COMPARE_SECTIONS } from './compareProtocol.js';
import type { ErrorDto, Message, Method, Notifications } from './protocol.js';

/** Bounds that keep one request's work small, whatever it claims. */
export const LIMITS = {
  /** Row indices: the host's trees never hold more than 2³¹ rows. */
  maxIndex: 2 ** 31 - 1,
  /** Rows one `rows` request may ask for (the webview pages 100 at a time). */
  maxRowsPerRequest: 10_000,
  /** Filter queries, metadata keys, module and tensor names, paths. */
  maxNameLength: 65_536,
  /** Text the webview asks the host to copy to the clipboard. */
  maxCopyText: 1 << 20,
} as const;

type Rule = (v: unknown) => string | null;

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

const int =
  (max: number): Rule =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
      ? null
      : `must be a whole number from 0 to ${max}`;

const text =
  (max: number): Rule =>
  (v) =>
    typeof v !== 'string'
      ? 'must be a string'
      : v.length > max
        ? `is over ${max} characters`
        : null;

const oneOf =
  (...values: readonly string[]): Rule =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? null : `must be one of ${values.join(', ')}`;

const bool: Rule = (v) => (typeof v === 'boolean' ? null : 'must be true or false');
const orNull =
  (rule: Rule): Rule =>
  (v) =>
    v === null ? null : rule(v);

/** Field → rule; a `?` suffix marks an optional field. */
type Shape = Readonly<Record<string, Rule>>;

const NAME = text(LIMITS.maxNameLength);
const TREE: Shape = { 'tree?': oneOf('file', 'base') };
const NONE: Shape = {};

const REQUEST_PARAMS: { readonly [M in Method]: Shape } = {
  ready: NONE,
  rows: { start: int(LIMITS.maxIndex), count: int(LIMITS.maxRowsPerRequest), ...TREE },
  setQuery: { query: NAME, 'rows?': int(LIMITS.maxRowsPerRequest), ...TREE },
  setGrouping: { grouping: oneOf('tree', 'flat', 'module'), ...TREE },
  setExpanded: { id: int(LIMITS.maxIndex), 'expanded?': bool, ...TREE },
  expandAll: TREE,
  collapseAll: TREE,
  reveal: { path: NAME, ...TREE },
  metadataValue: { key: NAME },
  copyText: { text: text(LIMITS.maxCopyText), what: NAME },
  mapping: NONE,
  mappingRows: { start: int(LIMITS.maxIndex), count: int(LIMITS.maxRowsPerRequest) },
  mappingQuery: { query: NAME },
  mappingSelect: { index: int(LIMITS.maxIndex) },
  mappingTable: NONE,
  selectBase: NONE,
  setOverride: { module: NAME, target: orNull(NAME) },
  clearOverride: { module: NAME },
  retarget: { module: NAME },
  computeStats: NONE,
  baseModel: NONE,
  fileModel: NONE,
  smoke: NONE,
  runSmoke: NONE,
  cancelSmoke: NONE,
  compareReady: NONE,
  compareRows: {
    section: oneOf(...COMPARE_SECTIONS),
    start: int(LIMITS.maxIndex),
    count: int(LIMITS.maxRowsPerRequest),
  },
  compareNorms: NONE,
};

const NOTIFICATIONS: ReadonlySet<string> = new Set<keyof Notifications>([
  'reload',
  'focusFilter',
  'mappingChanged',
  'smokeChanged',
  'smokeEvent',
]);

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Why `params` does not fit `shape`, or null. Unknown fields are refused: nothing rides along. */
function shapeProblem(params: unknown, shape: Shape): string | null {
  if (!isPlainObject(params)) return 'params must be a plain object';
  const declared = new Map(
    Object.entries(shape).map(([k, rule]) => [
      k.replace(/\?$/, ''),
      { rule, optional: k.endsWith('?') },
    ]),
  );
  for (const key of Object.keys(params))
    if (!declared.has(key)) return `unknown field "${key.slice(0, 64)}"`;
  for (const [key, { rule, optional }] of declared) {
    if (!hasOwn(params, key) || params[key] === undefined) {
      if (optional) continue;
      return `"${key}" is missing`;
    }
    const problem = rule(params[key]);
    if (problem) return `"${key}" ${problem}`;
  }
  return null;
}

export type RequestMessage = Extract<Message, { kind: 'request' }>;

export type RequestCheck =
  | { readonly ok: true; readonly message: RequestMessage }
  /** `id` is the request's own id when it had a usable one (so the refusal can be answered). */
  | { readonly ok: false; readonly id: number | null; readonly error: ErrorDto };

const validId = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Host side: is this a request the host may act on? */
export function checkRequest(value: unknown): RequestCheck {
  const refuse = (id: number | null, message: string): RequestCheck => ({
    ok: false,
    id,
    error: { code: 'InvalidMessage', message },
  });
  if (!isPlainObject(value)) return refuse(null, 'a message must be a plain object');
  if (value.kind !== 'request')
    return refuse(null, 'only requests go from the webview to the host');
  const id = validId(value.id) ? value.id : null;
  if (id === null) return refuse(null, 'a request needs a whole-number id');
  const method = value.method;
  if (typeof method !== 'string' || !hasOwn(REQUEST_PARAMS, method))
    return refuse(
      id,
      `unknown method ${typeof method === 'string' ? `"${method.slice(0, 64)}"` : `(${typeof method})`}`,
    );
  for (const key of Object.keys(value))
    if (key !== 'kind' && key !== 'id' && key !== 'method' && key !== 'params')
      return refuse(id, `unknown field "${key.slice(0, 64)}" in a request`);
  const problem = shapeProblem(value.params ?? {}, REQUEST_PARAMS[method as Method]);
  if (problem) return refuse(id, `${method}: ${problem}`);
  return {
    ok: true,
    message: { kind: 'request', id, method: method as Method, params: value.params ?? {} },
  };
}

/** Webview side: a response or notification it may act on, or null. Results come from the host itself. */
export function checkHostMessage(value: unknown): Exclude<Message, RequestMessage> | null {
  if (!isPlainObject(value)) return null;
  if (value.kind === 'response') {
    if (!validId(value.id)) return null;
    const error = value.error;
    if (error !== undefined) {
      if (
        !isPlainObject(error) ||
        typeof error.code !== 'string' ||
        typeof error.message !== 'string'
      )
        return null;
      return {
        kind: 'response',
        id: value.id,
        error: {
          code: error.code,
          message: error.message,
          ...(typeof error.subject === 'string' ? { subject: error.subject } : {}),
        },
      };
    }
    return { kind: 'response', id: value.id, result: value.result };
  }
  if (value.kind === 'notification') {
    if (typeof value.method !== 'string' || !NOTIFICATIONS.has(value.method)) return null;
    if (!isPlainObject(value.params)) return null;
    return {
      kind: 'notification',
      method: value.method as keyof Notifications,
      params: value.params,
    };
  }
  return null;
}

/** The declared params of a method, for tests and the fuzzer: which fields, and which are optional. */
export function declaredFields(method: Method): readonly string[] {
  return Object.keys(REQUEST_PARAMS[method]);
}

export const REQUEST_METHODS = Object.keys(REQUEST_PARAMS) as readonly Method[];
