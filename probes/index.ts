// Entry point for probe consumers (agent, CLI). Each probe kind also has its own index (probes/<kind>/index.ts).
export { BrowserProber, type BrowserProberOptions } from './browser/index.js';
export type { ProbeContext, ProbeJob, Prober } from './types.js';
