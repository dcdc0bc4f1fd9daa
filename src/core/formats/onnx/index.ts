export { onnxReader, openOnnx } from './onnxReader.js';
export { onnxDataType, type OnnxDataType } from './dataTypes.js';
export { LIMITS as ONNX_LIMITS } from './limits.js';
