import { EventEmitter } from 'node:events';
import type { Report } from '../shared/schemas.js';
import type { AlertEvent } from './alerting/index.js';

/** The controller's internal feed; the SSE endpoint relays it. One payload type per event. */
export interface ControllerEvents {
  /** A validated report was ingested; the second value is its results-stream sequence (the SSE event id). */
  report: [Report, number];
  /** A sweep's progress changed. */
  sweep: [{ id: string; state: string; received: number; expected: number }];
  /** An agent came online or went offline. */
  agent: [{ agentId: string; region: string; status: 'online' | 'offline' }];
  /** An alert changed state (pending, firing, resolved), on every replica (from the alert KV bucket). */
  alert: [AlertEvent];
}

export class EventBus extends EventEmitter<ControllerEvents> {}
