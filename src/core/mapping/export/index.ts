export * from './mappingFile.js';
export * from './remap.js';
export * from './snippet.js';
