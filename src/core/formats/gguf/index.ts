export { GGML_TYPES, ggmlType, type GgmlType } from './ggmlTypes.js';
export { ALIGNMENT_KEY, ggufReader, openGguf, VERSION_KEY } from './ggufReader.js';
export { arrayText, f32Text, scalarText } from './metadataText.js';
export { GgufValueType } from './valueTypes.js';
