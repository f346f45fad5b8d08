import type { Evidence, Labels } from '../schema.js';
import type { Fetch } from './http.js';

/** One alert inside a notification, as every notifier sees it. */
export interface OutAlert {
  fingerprint: string;
  status: 'firing' | 'resolved';
  /** A repeat of an alert already sent (repeat_interval). */
  repeat: boolean;
  labels: Labels;
  annotations: Record<string, string>;
  starts_at: string;
  ends_at?: string;
  value: number | null;
  threshold: number | null;
  evidence: Evidence;
  /** The alert's command-center page (set when the controller's external URL is known). */
  url?: string;
}

/** One notification: the alerts of one group for one receiver. */
export interface Outgoing {
  receiver: string;
  group_key: string;
  group_labels: Labels;
  /** firing if any alert in it fires. */
  status: 'firing' | 'resolved';
  alerts: OutAlert[];
}

export interface SendContext {
  fetch: Fetch;
  signal: AbortSignal;
  now: number;
  /** The controller's URL, for links back (generatorURL, client_url). */
  externalUrl?: string;
}

/** One receiver kind: format and send. Throws NotifyError. */
export interface Notifier<R> {
  send(receiver: R, n: Outgoing, ctx: SendContext): Promise<void>;
}
