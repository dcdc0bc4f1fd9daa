/** Adapter → base mapping: the public surface of src/core/mapping. */
export { mapAdapter, levelOf, DEFAULT_HIGH_CONFIDENCE, type MapOptions } from './map.js';
export { canonicalName, unflatten, stripWrappers, type CanonicalName } from './normalize.js';
export { buildBaseIndex, resolveFlat, type BaseIndex, type BaseParam } from './baseIndex.js';
export { fitShape, fusedRange, type ShapeFit } from './shapes.js';
export { assignMaxWeight, assignGreedy, type Edge } from './assign.js';
export { tokenSimilarity, scorePair, type MatchRule } from './score.js';
export * from './types.js';
