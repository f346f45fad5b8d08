/**
 * Every receiver kind and its notifier. The record is exhaustive over ReceiverKind: a kind added to the
 * config schema without a notifier here does not compile.
 */
import type { Receiver, ReceiverKind } from '../config.js';
import { alertmanagerNotifier } from './alertmanager.js';
import { pagerDutyNotifier } from './pagerduty.js';
import { slackNotifier } from './slack.js';
import type { Notifier } from './types.js';
import { webhookNotifier } from './webhook.js';

export const NOTIFIERS: { [K in ReceiverKind]: Notifier<Extract<Receiver, { kind: K }>> } = {
  webhook: webhookNotifier,
  slack: slackNotifier,
  pagerduty: pagerDutyNotifier,
  alertmanager: alertmanagerNotifier,
};

export function notifierFor<R extends Receiver>(r: R): Notifier<R> {
  return NOTIFIERS[r.kind] as unknown as Notifier<R>;
}

export { NotifyError } from './http.js';
export type { Notifier, OutAlert, Outgoing, SendContext } from './types.js';
