import type * as tfl from '@tensorflow/tfjs-layers';

/** The base options every tfjs-layers layer takes (name, trainable, …). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
/** The keyword arguments a layer's `call` receives (`training`, `mask`). */
export type LayerKwargs = Parameters<tfl.layers.Layer['call']>[1];
/** A layer's serialisable config. */
export type LayerConfig = ReturnType<tfl.layers.Layer['getConfig']>;
