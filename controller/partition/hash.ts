import { createHash } from 'node:crypto';
import type { Names } from '../../shared/subjects.js';

/**
 * The partition of a target, computed exactly as nats-server's `{{partition(n, 3)}}` subject mapping does:
 * FNV-1a (32 bit) of the token's bytes, modulo n. The controller needs it to read one target's history from
 * the right partition subject (/v1/results) and to say which partition a target lives in.
 */
export function partitionOf(token: string, n: number): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(token, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % n;
}

/** Whether a partition id is a numbered one (`0`..`N-1`): every series of its targets lives in it, by the hash. */
export const isNumberedPartition = (id: string): boolean => /^\d+$/.test(id);

/** One unit of ingest: a filter on the results stream, a durable consumer, a lease key. */
export interface PartitionSpec {
  /** `0`..`N-1`, or `unmapped` (reports the server did not map: the mapping is missing somewhere). */
  id: string;
  filter: string;
  consumer: string;
}

/**
 * The partitions of an N-way deployment. The mapping turns `<prefix>.results.<region>.<agent>.<target>` into
 * `...<target>.<p>`; a server without the mapping (a leaf configured without it, a mistake) leaves the
 * 3-token form, and agents older than the agent token publish `<prefix>.results.<region>.<target>`: those two
 * are partitions of their own, so a missing mapping costs balance, never reports.
 */
export function partitionSpecs(names: Names, n: number): PartitionSpec[] {
  const base = `${names.prefix}.results`;
  const out: PartitionSpec[] = [];
  for (let p = 0; p < n; p++)
    out.push({ id: String(p), filter: `${base}.*.*.*.${p}`, consumer: `controller-ingest-${p}-of-${n}` });
  out.push({ id: 'unmapped', filter: `${base}.*.*.*`, consumer: 'controller-ingest-unmapped' });
  out.push({ id: 'legacy', filter: `${base}.*.*`, consumer: 'controller-ingest-legacy' });
  return out;
}

const score = (member: string, partition: string) =>
  // A well-mixed hash: FNV-1a's last byte barely moves the ordering between two members.
  createHash('sha1').update(`${member}/${partition}`).digest().readUInt32BE(0);

/**
 * Who should own each partition: rendezvous (highest random weight) hashing with a cap of ceil(P/k) per
 * member, so k replicas share P partitions evenly and a join or a death moves few of them. Every replica
 * computes the same answer from the same member list.
 */
export function assignAll(partitions: readonly string[], listed: readonly string[]): Map<string, string> {
  // A member listed twice would lower the cap and take a second rank: every replica must see k members.
  const members = [...new Set(listed)];
  const out = new Map<string, string>();
  if (!members.length) return out;
  const cap = Math.ceil(partitions.length / members.length);
  const load = new Map(members.map((m) => [m, 0]));
  for (const p of partitions) {
    const ranked = [...members].sort((a, b) => score(b, p) - score(a, p) || (a < b ? -1 : 1));
    const m = ranked.find((x) => (load.get(x) ?? 0) < cap) ?? (ranked[0] as string);
    load.set(m, (load.get(m) ?? 0) + 1);
    out.set(p, m);
  }
  return out;
}
