export * from './mappingFile.js';
export * from './remap.js';
export * from './snippet.js';
export * from './writeRemapped.js';
