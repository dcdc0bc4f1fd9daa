/** Comparing two checkpoints: keys, renames, adapter module settings and ΔW changes. */
export {
  DEFAULT_TOLERANCE,
  diffCheckpoints,
  diffHeaders,
  differencesOf,
  limitReport,
  type DiffOptions,
  type HeaderDiff,
} from './diff.js';
export {
  DEFAULT_MAX_DENSE_ELEMENTS,
  compareDeltas,
  moduleDelta,
  moduleNorm,
} from './deltaNorms.js';
export { KeyMatcher, normalizedKey } from './keyDiff.js';
export { MAX_MAPPED, pairModules, type ModulePairing, type PairedModule } from './modulePairs.js';
export { diffText } from './diffText.js';
export * from './types.js';
