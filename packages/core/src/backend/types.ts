/** The tfjs backends genlab can run on, best first. */
export type BackendName = 'torch' | 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** What `initBackend` chose, and why each better backend was passed over. */
export interface BackendInfo {
  readonly name: BackendName;
  /** The tfjs backend id now active (`torch`, `tensorflow`, `webgpu`, `wasm`, `cpu`). */
  readonly tfBackend: string;
  /** Human-readable details (adapter name, thread count, SIMD). */
  readonly detail: string;
  /** Better backends that were skipped, each with the reason. */
  readonly skipped: ReadonlyArray<{ readonly name: BackendName; readonly reason: string }>;
  /** True when `GENLAB_BACKEND` or an option forced this choice. */
  readonly forced: boolean;
}
