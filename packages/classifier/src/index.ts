/**
 * @lab/classifier: the CIFAR-10 image classifier (a VGG-style CNN) that serves `/v1/classify`
 * and is the feature extractor of evaluation (FD-cls, KID, IS-cls). Pure TensorFlow.js; its API
 * plugin is at `@lab/classifier/plugin`.
 */

export {
  CLASSIFIER_PRESETS,
  type ClassifierConfig,
  type ClassifierPreset,
  createClassifier,
  featureExtractor,
  resolveClassifierConfig,
} from './classifier.js';
export { flipAveraged, usesFlipAverage } from './flip-average.js';
