import type { JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { realisticReport } from '../bench/report-fixture.js';
import { createLogger } from '../shared/log.js';
import { names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import { Ingest, pendingOf, streamSeq, subjectMismatch } from './ingest.js';

describe('subjectMismatch', () => {
  const r = realisticReport(3, 10);
  const ok = `liveprobe.results.${r.region}.${r.agentId}.${r.target.id}`;

  it('accepts the subject the body vouches for, in both subject forms', () => {
    expect(subjectMismatch(ok, r)).toBeUndefined();
    expect(subjectMismatch(`lp.results.${r.region}.${r.target.id}`, r)).toBeUndefined();
    // Partitioned: the server's mapping appends the target's partition.
    expect(subjectMismatch(`${ok}.13`, r)).toBeUndefined();
  });

  it('names what the body contradicts', () => {
    const cases: [string, string][] = [
      [`liveprobe.results.other.${r.agentId}.${r.target.id}`, 'region'],
      [`liveprobe.results.${r.region}x.${r.agentId}.${r.target.id}`, 'region'],
      [`liveprobe.results.${r.region}.agent-x.${r.target.id}`, 'agent'],
      [`liveprobe.results.${r.region}.${r.agentId}x.${r.target.id}`, 'agent'],
      [`liveprobe.results.${r.region}.${r.agentId}.other`, 'target'],
      [`liveprobe.results.${r.region}.${r.agentId}.${r.target.id}x`, 'target'],
      [`liveprobe.results.${r.region}.${r.agentId}.x${r.target.id}`, 'target'],
      [`liveprobe.results.${r.region}.${r.agentId}.${r.target.id}.more`, 'target'],
      [`liveprobe.results.${r.region}.${r.agentId}.${r.target.id}.`, 'target'],
      [`liveprobe.results.${r.region}.${r.agentId}.${r.target.id}.1x`, 'target'],
      [`liveprobe.results.${r.region}.${r.agentId}.other.4`, 'target'],
      [`liveprobe.jobs.${r.region}.${r.agentId}.${r.target.id}`, 'subject'],
      [`results.${r.region}.${r.agentId}.${r.target.id}`, 'subject'],
    ];
    for (const [subject, claim] of cases) expect(subjectMismatch(subject, r), subject).toBe(claim);
  });
});

describe('streamSeq', () => {
  const msg = (reply: string, seq = -1) => ({ reply, seq }) as unknown as JsMsg;

  it('reads the stream sequence from both ack subject forms', () => {
    expect(
      streamSeq(msg('$JS.ACK.LIVEPROBE_RESULTS.controller-ingest.1.48213.48100.1796300000000000000.5')),
    ).toBe(48213);
    expect(
      streamSeq(
        msg('$JS.ACK._.ACCHASH.LIVEPROBE_RESULTS.controller-ingest.2.907.12.1796300000000000000.0.r4nd'),
      ),
    ).toBe(907);
    expect(
      streamSeq(
        msg('$JS.ACK.hub.ACCHASH.LIVEPROBE_RESULTS.controller-ingest.1.31.31.1796300000000000000.0.x'),
      ),
    ).toBe(31);
  });

  it("falls back to the client's parser for anything else", () => {
    expect(streamSeq(msg('', 12))).toBe(12);
    expect(streamSeq(msg('$JS.ACK.odd', 13))).toBe(13);
  });
});

describe('pendingOf', () => {
  it("reads the consumer's pending count from both ack subject forms", () => {
    expect(pendingOf('$JS.ACK.LIVEPROBE_RESULTS.controller-ingest.1.48213.48100.1796300000000000000.5')).toBe(
      5,
    );
    expect(
      pendingOf(
        '$JS.ACK._.ACCHASH.LIVEPROBE_RESULTS.controller-ingest.2.907.12.1796300000000000000.4821.r4nd',
      ),
    ).toBe(4821);
  });

  it('is 0 for anything else', () => {
    expect(pendingOf('')).toBe(0);
    expect(pendingOf('$JS.ACK.odd')).toBe(0);
    expect(pendingOf('$JS.ACK.S.C.1.2.3.4.x5')).toBe(0);
  });

  it("is what an Ingest reports as its backlog: the last delivered message's count", () => {
    const r = realisticReport(3, 10);
    const seen: string[] = [];
    const ingest = ingestInto(seen);
    expect(ingest.backlog).toBe(0);
    const deliver = (pending: number) => ingest.handle(delivered(r, pending));
    deliver(4200);
    expect(ingest.backlog).toBe(4200);
    deliver(0);
    expect(ingest.backlog).toBe(0);
    expect(seen).toEqual([r.id]);
  });
});

/** An Ingest (no consumer: messages are handed to it) that lists the ids it hands on in `handled`. */
function ingestInto(handled: string[], rememberIds?: number): Ingest {
  return new Ingest({
    js: {} as never,
    names: names('liveprobe'),
    logger: createLogger('test', 'silent'),
    onReport: (rep) => handled.push(rep.id),
    ...(rememberIds ? { rememberIds } : {}),
  });
}

/** A report as the consumer delivers it, on its subject, with `pending` reports still waiting. */
function delivered(r: ReturnType<typeof realisticReport>, pending: number): JsMsg {
  return {
    data: encodeJson(r),
    subject: `liveprobe.results.${r.region}.${r.agentId}.${r.target.id}`,
    seq: 7,
    reply: `$JS.ACK.LIVEPROBE_RESULTS.controller-ingest.1.7.7.1796300000000000000.${pending}`,
    ack: () => undefined,
  } as unknown as JsMsg;
}

describe('Ingest id memory', () => {
  it('counts a redelivered report once for at least rememberIds more reports, and forgets it by twice that', () => {
    const handled: string[] = [];
    const ingest = ingestInto(handled, 4);
    const base = realisticReport(3, 10);
    const deliver = (id: string) => ingest.handle(delivered({ ...base, id }, 0));
    deliver('a');
    for (const id of ['b', 'c', 'd', 'e']) deliver(id);
    // 'a' was followed by 4 (rememberIds) other reports: its redelivery is still recognised.
    deliver('a');
    expect(ingest.stats).toMatchObject({ ingested: 5, redelivered: 1 });
    // Replayed ids (start-up) count as handled too.
    ingest.remember('r');
    deliver('r');
    expect(ingest.stats.redelivered).toBe(2);
    // After 2 x rememberIds more, 'a' is forgotten: a bounded memory, not one that grows with the stream.
    for (const id of ['f', 'g', 'h', 'i', 'j', 'k', 'l', 'm']) deliver(id);
    deliver('a');
    expect(ingest.stats).toMatchObject({ ingested: 14, redelivered: 2 });
    expect(handled.filter((id) => id === 'a')).toHaveLength(2);
  });
});
