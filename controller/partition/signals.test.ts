import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import { decodeJson } from '../../shared/transport.js';
import { makeReport } from '../../test/helpers/fleet.js';
import { ClusterSignals } from './signals.js';

const failed = (i: number, extra: Partial<Report> = {}): Report => ({
  ...makeReport({ jobId: `j${i}`, region: 'r1', targetId: `t${i}` }),
  outcome: 'failed',
  ...extra,
});

describe('cluster signals', () => {
  it('sends problem reports in batches NATS accepts; an oversize report is trimmed or named, never lost', () => {
    const sent: Uint8Array[] = [];
    const warn = vi.fn();
    const signals = new ClusterSignals({
      nc: { publish: (_s: string, data: Uint8Array) => sent.push(data) } as never,
      subject: 'lp.signals',
      replicaId: 'r-1',
      logger: { warn, error: vi.fn(), info: vi.fn(), debug: vi.fn() } as unknown as Logger,
      sink: () => undefined,
    });
    // ~10 KiB each: 150 of them are 1.5 MiB, more than one NATS message may carry.
    for (let i = 0; i < 150; i++) signals.onReport(failed(i, { reasons: Array(40).fill('x'.repeat(250)) }));
    const bigSegments = Array.from({ length: 20_000 }, (_, i) => ({ uri: `seg-${i}-${'y'.repeat(100)}` }));
    signals.onReport(failed(1000, { segments: bigSegments as never }));
    signals.onReport(failed(1001, { reasons: ['z'.repeat(2 * 1024 * 1024)] }));
    signals.stop();

    const messages = sent.map((d) => ({ bytes: d.byteLength, s: decodeJson(d) as Record<string, unknown> }));
    for (const m of messages) expect(m.bytes).toBeLessThan(1024 * 1024);
    const problems = messages.flatMap((m) => (m.s.problems as Report[] | undefined) ?? []);
    expect(problems.map((r) => r.target.id).sort()).toEqual(
      [...Array.from({ length: 150 }, (_, i) => `t${i}`), 't1000'].sort(),
    );
    expect(messages.filter((m) => m.s.problems).every((m) => m.bytes <= 256 * 1024 + 200)).toBe(true);
    expect(problems.find((r) => r.target.id === 't1000')?.segments).toEqual([]);
    expect(messages.flatMap((m) => (m.s.targets as string[] | undefined) ?? [])).toEqual(['t1001']);
    expect(warn).toHaveBeenCalledTimes(2);
  });
});
