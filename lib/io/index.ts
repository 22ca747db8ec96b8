// ap.io: weights on disk.
export {
  loadSafetensors, saveSafetensors, readSafetensors, parseSafetensors, serializeSafetensors, writeFileAtomic, oihwToOhwi, ohwiToOihw,
  type LoadOptions, type SaveOptions, type SafetensorsFile, type HostTensor, type StDType,
} from './safetensors.js';
export { saveModel, loadModel, type SaveModelOptions, type LoadModelOptions } from './model.js';
export { exportOnnx, type ExportOnnxOptions, type OnnxExportInfo } from './onnx.js';
