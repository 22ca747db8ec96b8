// ap.eval: robustness evaluation helpers.
export { corrupt, CORRUPTIONS, type CorruptionName } from './corruptions.js';
