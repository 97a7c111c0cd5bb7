/** Names every genlab model package and the trainer agree on. */

/** The CIFAR-10 class names in label order (0 = airplane … 9 = truck). */
export const CIFAR10_CLASS_NAMES = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const);

/** The penultimate layer of classifiers and energy nets: evaluation reads features from it. */
export const FEATURES_LAYER = 'features';
