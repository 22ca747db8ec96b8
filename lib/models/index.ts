// ap.models: the EfficientNet family, its configs and summary().
export { EfficientNet, efficientnet, type BuildOptions } from './efficientnet.js';
export {
  efficientnetConfig, efficientnetTensorSpecs, countParameters, roundFilters, roundRepeats, blockLayerNames,
  EFFICIENTNET_NAMES, EFFICIENTNET_PARAMS, DEFAULT_STAGES,
  type EfficientNetName, type EfficientNetOptions, type EfficientNetConfig, type BlockConfig, type StageArgs, type TensorSpec,
} from './efficientnet_config.js';
export { summary, familyTable, efficientnetRows, type Summary, type SummaryRow, type SummaryOptions, type FamilyRow } from './summary.js';
