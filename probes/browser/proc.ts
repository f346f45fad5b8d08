import { readdirSync, readFileSync } from 'node:fs';

/** Process group id of a PID from /proc/<pid>/stat (field 5; the command name may hold spaces). */
function pgrpOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[2]);
  } catch {
    return undefined;
  }
}

/** PIDs of the live processes in a process group (zombies included until reaped). */
export function processGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.map(Number).filter((pid) => Number.isInteger(pid) && pgrpOf(pid) === pgid);
}

/** Resolves once no process of the group is left (or after timeoutMs). */
export async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (processGroupMembers(pgid).length === 0) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Proportional set size (MB) of every process in a process group: the browser with its renderers, GPU and
 * zygote processes (puppeteer starts Chromium as a group leader). PSS, not summed RSS: shared pages would be
 * counted once per process. Linux only; undefined where /proc is not readable.
 */
export function processGroupPssMb(pgid: number): number | undefined {
  let kb = 0;
  let found = false;
  for (const pid of processGroupMembers(pgid)) {
    try {
      const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
      if (m) {
        kb += Number(m[1]);
        found = true;
      }
    } catch {}
  }
  return found ? Math.round(kb / 1024) : undefined;
}
