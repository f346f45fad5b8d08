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

/**
 * Proportional set size (MB) of every process in a process group: the browser with its renderers, GPU and
 * zygote processes (puppeteer starts Chromium as a group leader). PSS, not summed RSS: shared pages would be
 * counted once per process. Linux only; undefined where /proc is not readable.
 */
export function processGroupPssMb(pgid: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  let kb = 0;
  let found = false;
  for (const name of entries) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pgrpOf(pid) !== pgid) continue;
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
