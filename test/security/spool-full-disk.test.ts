/**
 * The spool's disk fills up (writes fail with ENOSPC, here through /dev/full) while NATS is unreachable:
 * no report is accepted that was not durably written, the file keeps no torn line, and what was spooled
 * before the disk filled is replayed intact after a restart.
 */
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Spool } from '../../agent/spool.js';
import { createLogger } from '../../shared/log.js';
import { tempDir } from '../helpers/procs.js';

const logger = createLogger('test', 'silent');
const entry = (i: number) => ({ subject: 'liveprobe.results.r.a.t', msgId: `job${i}:0`, data: `{"i":${i}}` });

describe('spool on a full disk', () => {
  const dir = tempDir('spool-full');
  afterAll(() => dir.remove());

  it('refuses what it cannot write, keeps what it wrote', () => {
    // Linux's always-full device: the supported platform has it, so its absence fails here, not skips.
    expect(existsSync('/dev/full')).toBe(true);
    const a = new Spool({ dir: dir.path, name: 'agent-1', maxBytes: 1 << 20, logger });
    a.open();
    for (let i = 0; i < 3; i++) expect(a.append(entry(i))).toBe(true);
    a.close();
    const file = join(dir.path, 'agent-1', 'entries.jsonl');
    const written = readFileSync(file, 'utf8');

    // the disk is now full: every write fails with ENOSPC
    const b = new Spool({ dir: dir.path, name: 'agent-2', maxBytes: 1 << 20, logger });
    b.open(); // adopts agent-1's three entries
    expect(b.depth).toBe(3);
    const own = join(dir.path, 'agent-2', 'entries.jsonl');
    const kept = readFileSync(own, 'utf8');
    rmSync(own);
    symlinkSync('/dev/full', own);
    expect(b.append(entry(3))).toBe(false); // refused, so its job is handed back, never acked
    expect(b.stats().refused).toBe(1);
    expect(b.depth).toBe(3);
    b.close();

    // the disk has room again: the three reports written before are all there, no torn line
    rmSync(own);
    writeFileSync(own, kept);
    const c = new Spool({ dir: dir.path, name: 'agent-2', maxBytes: 1 << 20, logger });
    c.open();
    const ids: string[] = [];
    for (let e = c.peek(); e; e = c.peek()) {
      ids.push(e.msgId);
      c.commit();
    }
    expect(ids).toEqual(['job0:0', 'job1:0', 'job2:0']);
    expect(written.trim().split('\n')).toHaveLength(3);
    c.close();
  });
});
