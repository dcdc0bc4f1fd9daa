export { openTorch, torchReader, TORCH_LIMITS } from './torchReader.js';
export { detectContainer, sniffTorch, type TorchContainer } from './formatDetection.js';
export { unpickle, PICKLE_LIMITS } from './unpickler.js';
export { ZipArchive, ZIP_LIMITS } from './zipArchive.js';
