// ap.train: the AdvProp trainer and baselines, schedules, checkpoints, evaluation, the train job.
export { Trainer, decayMask, type TrainerOptions, type StepInput, type StepResult } from './trainer.js';
export { BatchUploader } from './upload.js';
export { METHODS, stepPlan, domainsFor, type Method, type StepPlan } from './methods.js';
export { learningRate, scaledLr, warmupEpochs, type ScheduleName, type ScheduleOptions } from './schedule.js';
export { saveCheckpoint, loadCheckpoint, readCheckpointMeta, type CheckpointMeta } from './checkpoint.js';
export { evaluateModel, type EvalOptions, type EvalResult } from './evaluate.js';
export { trainRun, type RunResult, type RunHooks } from './run.js';
export { TRAIN_DEFAULTS, checkTrainConfig, type TrainConfig } from './config.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad_scaler.js';
