import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log.js';
import { Spool } from './spool.js';

const logger = createLogger('spool-test', 'silent');
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'spool-'));
  dirs.push(d);
  return d;
};
const entry = (i: number) => ({ subject: 'liveprobe.results.r.t', msgId: `job${i}:0`, data: `{"i":${i}}` });

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('Spool', () => {
  it('keeps entries in order across a restart, minus the committed ones', () => {
    const dir = tmp();
    const a = new Spool({ dir, name: 'a1', maxBytes: 1 << 20, logger });
    a.open();
    for (let i = 0; i < 5; i++) expect(a.append(entry(i))).toBe(true);
    a.commit();
    a.commit();
    a.close();

    const b = new Spool({ dir, name: 'a1', maxBytes: 1 << 20, logger });
    b.open();
    expect(b.depth).toBe(3);
    const seen: string[] = [];
    for (let e = b.peek(); e; e = b.peek()) {
      seen.push(e.msgId);
      b.commit();
    }
    expect(seen).toEqual(['job2:0', 'job3:0', 'job4:0']);
    b.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses (and counts) what does not fit, never evicting a spooled report', () => {
    const dir = tmp();
    const s = new Spool({ dir, name: 'a1', maxBytes: 200, logger });
    s.open();
    let accepted = 0;
    for (let i = 0; i < 10; i++) if (s.append(entry(i))) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(10);
    expect(s.stats()).toMatchObject({ depth: accepted, refused: 10 - accepted });
    expect(s.stats().bytes).toBeLessThanOrEqual(200);
    expect(s.peek()?.msgId).toBe('job0:0');
  });

  it('adopts the spool of a dead agent (older entries first) and refuses one held by a live process', () => {
    const dir = tmp();
    const old = new Spool({ dir, name: 'old-agent', maxBytes: 1 << 20, logger });
    old.open();
    old.append(entry(1));
    old.append(entry(2));
    // "crash": no close(); the lock names a PID that is not running
    writeFileSync(join(dir, 'old-agent', 'lock'), '999999999');

    const neu = new Spool({ dir, name: 'new-agent', maxBytes: 1 << 20, logger });
    neu.open();
    neu.append(entry(3));
    const ids: string[] = [];
    for (let e = neu.peek(); e; e = neu.peek()) {
      ids.push(e.msgId);
      neu.commit();
    }
    expect(ids).toEqual(['job1:0', 'job2:0', 'job3:0']);
    expect(readdirSync(dir)).toEqual(['new-agent']);

    writeFileSync(join(dir, 'new-agent', 'lock'), String(process.ppid));
    expect(() => new Spool({ dir, name: 'new-agent', maxBytes: 1 << 20, logger }).open()).toThrow(/in use/);
  });

  it('ignores a torn last line (killed mid-write)', () => {
    const dir = tmp();
    const s = new Spool({ dir, name: 'a1', maxBytes: 1 << 20, logger });
    s.open();
    s.append(entry(1));
    writeFileSync(join(dir, 'a1', 'entries.jsonl'), `${JSON.stringify(entry(1))}\n{"subject":"liveprobe.res`);
    writeFileSync(join(dir, 'a1', 'lock'), '999999999');
    const t = new Spool({ dir, name: 'a1', maxBytes: 1 << 20, logger });
    t.open();
    expect(t.depth).toBe(1);
    expect(t.peek()?.msgId).toBe('job1:0');
  });
});
