import { EventEmitter } from 'node:events';
import type { Report } from '../shared/schemas.js';

/** The controller's internal feed; the SSE endpoint relays it. One payload type per event. */
export interface ControllerEvents {
  /** A validated report was ingested. */
  report: [Report];
  /** A sweep's progress changed. */
  sweep: [{ id: string; state: string; received: number; expected: number }];
  /** An agent came online or went offline. */
  agent: [{ agentId: string; region: string; status: 'online' | 'offline' }];
}

export class EventBus extends EventEmitter<ControllerEvents> {}
