import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processGroupMembers, processGroupPssMb, waitGroupGone } from './proc.js';

describe('processGroupPssMb', () => {
  it('sums PSS over a process group (ours: at least this Node process)', () => {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    const mb = processGroupPssMb(pgid);
    expect(mb).toBeGreaterThan(10);
    expect(mb).toBeLessThan(64 * 1024);
  });

  it('an unknown group has no size and no members', async () => {
    expect(processGroupPssMb(2 ** 30)).toBeUndefined();
    expect(processGroupMembers(2 ** 30)).toEqual([]);
    expect(await waitGroupGone(2 ** 30, 10)).toBe(true);
  });
});
