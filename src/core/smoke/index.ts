/** The smoke test engine: the public surface of src/core/smoke (the contract is types.ts). */
export * from './types.js';
export { runSmoke, verdictOf, type OrtModule, type RunSmokeOptions } from './run.js';
export {
  chooseEp,
  probeCuda,
  cudaProviderFiles,
  parseProfile,
  describePlacement,
  type Placement,
} from './ep.js';
export {
  buildModuleGraph,
  graphSignature,
  sameConv,
  GRAPH_OPSET,
  type GraphSpec,
  type GraphVariant,
  type ConvAttrs,
} from './graphs.js';
export {
  toFloat32,
  transpose2d,
  sliceColumns,
  Float32Scratch,
  FLOAT_DTYPES,
} from '../formats/floatDecode.js';
export {
  toleranceFor,
  compareToReference,
  referenceLinear,
  referenceConv,
  referenceEmbedding,
  randomNormal,
  mulberry32,
  spacedIndices,
  type Tolerance,
  type Reference,
} from './reference.js';
export {
  planModules,
  trueOrientation,
  rolesAgree,
  type ModulePlan,
  type PlannedModule,
} from './modulePlan.js';
export { checkModule, layoutOf, NO_EFFECT_RATIO, EXPLOSION_RATIO } from './moduleCheck.js';
export { SessionCache } from './sessions.js';
