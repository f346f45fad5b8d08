/**
 * Every NATS subject, stream and consumer name in one place. A prefix lets several installations share one
 * NATS account (`liveprobe` -> subjects `liveprobe.*`, streams `LIVEPROBE_*`).
 */
export interface Names {
  prefix: string;
  jobsStream: string;
  resultsStream: string;
  jobs(region: string): string;
  jobsAll: string;
  jobsConsumer(region: string): string;
  /**
   * A report's subject carries its region and agent, so the NATS server can hold an agent to its own (see
   * deploy/nats/nats-server.conf) and ingest can drop a report whose body claims otherwise.
   */
  results(region: string, agentId: string, targetId: string): string;
  /** Filter for reports of a region and/or target (any agent). */
  resultsFilter(region?: string, targetId?: string): string;
  resultsAll: string;
  heartbeat(region: string, agentId: string): string;
  heartbeatAll: string;
  control(agentId: string): string;
  /** Inbox prefix of an agent's connection: its permissions allow `<inbox>.>` only, never `_INBOX.>`. */
  agentInbox(agentId: string): string;
  /** Broadcast (core NATS): {watchId} or {sweepId} — agents abort the jobs of a stopped watch / cancelled sweep. */
  watchStop: string;
  time: string;
  ingestConsumer: string;
  /** Clock-strip injector heartbeats (core NATS): {injectorId}. */
  injector(id: number): string;
  injectorsAll: string;
}

export function names(prefix = 'liveprobe'): Names {
  const up = prefix.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return {
    prefix,
    jobsStream: `${up}_JOBS`,
    resultsStream: `${up}_RESULTS`,
    jobs: (region) => `${prefix}.jobs.${region}`,
    jobsAll: `${prefix}.jobs.>`,
    jobsConsumer: (region) => `jobs-${region}`,
    results: (region, agentId, targetId) => `${prefix}.results.${region}.${agentId}.${targetId}`,
    resultsFilter: (region = '*', targetId = '*') => `${prefix}.results.${region}.*.${targetId}`,
    resultsAll: `${prefix}.results.>`,
    heartbeat: (region, agentId) => `${prefix}.agents.${region}.${agentId}`,
    heartbeatAll: `${prefix}.agents.>`,
    control: (agentId) => `${prefix}.control.${agentId}`,
    agentInbox: (agentId) => `_INBOX_${agentId}`,
    watchStop: `${prefix}.watches.stop`,
    time: `${prefix}.time`,
    ingestConsumer: 'controller-ingest',
    injector: (id) => `${prefix}.injectors.${id}`,
    injectorsAll: `${prefix}.injectors.>`,
  };
}
