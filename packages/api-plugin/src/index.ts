export { AdmissionQueue, type AdmissionStats } from './admission.js';
export {
  createPluginContainer,
  type DependencyContainer,
  type InjectionToken,
  instanceCachingFactory,
  MODEL_REGISTRY,
  type PluginContainerOptions,
  token,
} from './di.js';
export { InProcessExecutor, type JobExecutor, QueuedExecutor } from './executor.js';
export { API_PLUGIN_VERSION } from './host-version.js';
export { type Job, type JobOutput, type JobProgress, type JobResult, type RawImage, type RunOptions, runJob } from './job.js';
export type { GenlabPlugin, PluginContext, PluginSource, RouteRegistrar } from './plugin.js';
export { pluginSources, type RegisterPluginSourcesOptions, registerPluginSources } from './plugin-source.js';
export type {
  Capability,
  InpaintParams,
  JobControl,
  ModelInfo,
  ModelKind,
  ModelProvider,
  ProgressInfo,
  ProviderFactory,
  SampleParams,
  SamplerName,
  ScoreResult,
} from './provider.js';
export { SAMPLER_NAMES } from './provider.js';
export { type ProviderPluginDefinition, providerPlugin } from './provider-plugin.js';
export { type PluginErrorReason, PluginRegistrationError, type RegisterPluginsOptions, registerPlugins } from './register.js';
export { type ModelDescriptor, ModelRegistry, type ModelStatus } from './registry.js';
export {
  type ClassifyRequest,
  ClassifyRequestSchema,
  ClassifyResponseSchema,
  type GenerateAlias,
  GenerateAliasSchema,
  type InpaintRequest,
  InpaintRequestSchema,
  ModelIdSchema,
  ProblemSchema,
  SampleJsonResponseSchema,
  type SampleRequest,
  SampleRequestSchema,
  type ScoreRequest,
  ScoreRequestSchema,
  ScoreResponseSchema,
} from './schemas.js';
