export * from './mappingFile.js';
export * from './remap.js';
export * from './snippet.js';
export * from './writeRemapped.js';
export * from './conversion.js';
export * from './convert.js';
export * from './fusedLayout.js';
