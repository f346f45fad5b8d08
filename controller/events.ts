import { EventEmitter } from 'node:events';
import type { ReportCore } from '../shared/report-core.js';
import type { Report } from '../shared/schemas.js';
import type { AlertEvent } from './alerting/index.js';

/** The controller's internal feed; the SSE endpoint relays it. One payload type per event. */
export interface ControllerEvents {
  /**
   * A report ingested here (its core: shared/report-core.ts), with its results-stream sequence. Unpartitioned,
   * every report; partitioned, those of the partitions this replica owns.
   */
  ingested: [ReportCore, number];
  /**
   * A new report of the fleet, whole, with its results-stream sequence (the SSE event id): the live feed.
   * Emitted only while someone listens (an open /v1/events stream); decoding the rows costs ingest.
   */
  report: [Report, number];
  /** A sweep's progress changed. */
  sweep: [{ id: string; state: string; received: number; expected: number }];
  /** An agent came online or went offline. */
  agent: [{ agentId: string; region: string; status: 'online' | 'offline' }];
  /** An alert changed state (pending, firing, resolved), on every replica (from the alert KV bucket). */
  alert: [AlertEvent];
}

export class EventBus extends EventEmitter<ControllerEvents> {}
