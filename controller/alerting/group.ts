/**
 * Stage 6, group and dedup: route each alert to its receivers, drop what a silence mutes, decide what each
 * receiver still has to hear (dedup by fingerprint against the notification log: a firing episode is sent
 * once per receiver, its resolve once, repeats every repeat_interval), and bundle it into one notification
 * per receiver per group (alerts sharing the route's group_by labels, by default the target) — subject to
 * group_wait for a new group and group_interval between a group's notifications.
 */
import type { Receiver, Route } from './config.js';
import type { Alert, Labels, Silence } from './schema.js';
import { durationMs } from './schema.js';
import { matchesAll, silencedBy } from './silence.js';

/** What the notification log knows (alerting/notify-log.ts); keys from notificationKey(). */
export interface NotifiedView {
  /** Sent, or claimed recently enough to still be in flight: do not plan it again. */
  taken(key: string, now: number): boolean;
  /** Sent or claimed at all (a firing notice that may have reached the receiver: its resolve is owed). */
  claimed(key: string): boolean;
}

export interface PlannedItem {
  alert: Alert;
  /** firing | resolved | firing-r<N> (Nth repeat). */
  what: string;
  key: string;
}

export interface Notification {
  receiver: Receiver;
  groupKey: string;
  groupLabels: Labels;
  items: PlannedItem[];
}

export interface GroupInput {
  alerts: Alert[];
  silences: Silence[];
  route: Route;
  /** Enabled receivers by name. */
  receivers: ReadonlyMap<string, Receiver>;
  log: NotifiedView;
  /** Last notification time per group key (kept by the caller between runs). */
  clock: Map<string, number>;
  now: number;
}

/** Episode = the firing start; one log entry per episode x receiver x what. */
export const notificationKey = (fp: string, episodeMs: number, receiver: string, what: string) =>
  `${fp}.${episodeMs}.${receiver}.${what}`;

export function routeReceivers(route: Route, labels: Labels): string[] {
  const out: string[] = [];
  let matched = false;
  for (const r of route.routes) {
    if (!matchesAll(r.matchers, labels)) continue;
    matched = true;
    out.push(...r.receivers);
    if (!r.continue) break;
  }
  return [...new Set(matched ? out : route.receivers)];
}

function repeatMs(route: Route, receiver: Receiver): number {
  // An Alertmanager resolves alerts it stops hearing about: forwarded alerts are re-posted often.
  if (receiver.kind === 'alertmanager') return durationMs(receiver.resend_interval);
  return durationMs(route.repeat_interval);
}

export function plan(input: GroupInput): Notification[] {
  const { route, now, log } = input;
  const groups = new Map<string, Notification & { dueFrom: number }>();
  for (const alert of input.alerts) {
    if (alert.state === 'pending' || !alert.fired_at) continue;
    const episode = Date.parse(alert.fired_at);
    const muted = alert.state === 'firing' && silencedBy(alert.labels, input.silences, now).length > 0;
    for (const name of routeReceivers(route, alert.labels)) {
      const receiver = input.receivers.get(name);
      if (!receiver) continue;
      const firingKey = notificationKey(alert.id, episode, name, 'firing');
      let what: string | undefined;
      if (alert.state === 'firing') {
        if (muted) continue;
        if (!log.taken(firingKey, now)) what = 'firing';
        else {
          const every = repeatMs(route, receiver);
          const n = every > 0 ? Math.floor((now - episode) / every) : 0;
          if (n >= 1 && !log.taken(notificationKey(alert.id, episode, name, `firing-r${n}`), now))
            what = `firing-r${n}`;
        }
      } else if (
        log.claimed(firingKey) &&
        !log.taken(notificationKey(alert.id, episode, name, 'resolved'), now)
      ) {
        what = 'resolved';
      }
      if (!what) continue;
      const groupLabels: Labels = {};
      for (const l of route.group_by)
        if (alert.labels[l] !== undefined) groupLabels[l] = alert.labels[l] as string;
      const groupKey = `${name}:${JSON.stringify(groupLabels)}`;
      let g = groups.get(groupKey);
      if (!g) {
        g = { receiver, groupKey, groupLabels, items: [], dueFrom: Number.POSITIVE_INFINITY };
        groups.set(groupKey, g);
      }
      g.items.push({ alert, what, key: notificationKey(alert.id, episode, name, what) });
      const since = alert.state === 'resolved' && alert.resolved_at ? Date.parse(alert.resolved_at) : episode;
      g.dueFrom = Math.min(g.dueFrom, since);
    }
  }
  const out: Notification[] = [];
  for (const g of groups.values()) {
    const last = input.clock.get(g.groupKey);
    const due =
      last === undefined ? g.dueFrom + durationMs(route.group_wait) : last + durationMs(route.group_interval);
    if (now < due) continue;
    input.clock.set(g.groupKey, now);
    const { dueFrom: _, ...n } = g;
    out.push(n);
  }
  return out;
}
