// ap.data: datasets, transforms and the loader.
export type { ImageDataset, ArraySource, FileSource, TarSource } from './dataset.js';
export { datasetSize, limitDataset } from './dataset.js';
export { readIdx } from './idx.js';
export { loadIdxDataset, hasIdxDataset, FASHION_MNIST_CLASSES, type Split } from './mnist.js';
export { loadCifar, hasCifarDataset } from './cifar.js';
export { loadImageFolder, hasImageFolder } from './folder.js';
export { decodeImage } from './decode.js';
export { applyTransforms, resize, resizeBicubic, centerCropResize, crop, hflip, type TransformSpec, type Image } from './transforms.js';
export { DataLoader, type LoaderOptions, type Batch } from './loader.js';
export { openDataset, defaultDataDir, bundledDataDir } from './open.js';
export { Rng, permutation } from './rng.js';
