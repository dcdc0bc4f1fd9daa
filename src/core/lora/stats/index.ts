/**
 * Per-module statistics of a LoRA adapter (delta norms, spectra, NaN/Inf, untrained B), computed on
 * demand by streaming only the module's own tensors.
 */
export {
  computeAllStats,
  computeModuleStats,
  type AllStatsOptions,
  type ModuleStatsOptions,
  type StatsCacheRef,
  type StatsProgress,
} from './computeStats.js';
export {
  fileKey,
  StatsCache,
  type FileIdentity,
  type StatsCacheData,
  type StatsCacheOptions,
  type StatsPersistence,
} from './cache.js';
export { layerRows, layerTotals, type LayerRow, type LayerTotal } from './layerRows.js';
export { DEFAULT_CHUNK_ELEMENTS } from './partReader.js';
export * from './types.js';
