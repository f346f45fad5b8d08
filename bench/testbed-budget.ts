/**
 * CPU and memory budget of the testbed (full ladder: 3 video renditions + audio, HLS TS + HLS fMP4 + DASH).
 * Starts the testbed in this process, lets it warm up, then samples /proc for the ffmpeg child and this Node
 * process (which paints the frames and serves the origin) over a measurement window.
 *
 *   node dist/bench/testbed-budget.js [--seconds 30] [--warmup 8] [--ladder full|single]
 *
 * Last line: testbed_cpu_pct=<percent of one core> testbed_rss_mb=<MiB>
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../shared/log.js';
import { startTestbed } from '../testbed/index.js';

const CLK_TCK = 100; // USER_HZ on Linux

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

/** utime + stime of a process in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '30'));
  const warmup = Number(arg('warmup', '8'));
  const ladder = arg('ladder', 'full') as 'full' | 'single';
  const tb = await startTestbed({ ladder, logger: createLogger('testbed-budget', 'warn') });
  try {
    await new Promise((r) => setTimeout(r, warmup * 1000));
    const ffmpeg = tb.ffmpegPid();
    if (!ffmpeg) throw new Error('ffmpeg is not running');
    const pids = { ffmpeg, node: process.pid };
    const t0 = performance.now();
    const c0 = { ffmpeg: cpuSeconds(pids.ffmpeg), node: cpuSeconds(pids.node) };
    const rssPeak = { ffmpeg: 0, node: 0 };
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000));
      if (tb.ffmpegPid() !== pids.ffmpeg) throw new Error('ffmpeg restarted during the measurement');
      rssPeak.ffmpeg = Math.max(rssPeak.ffmpeg, rssMb(pids.ffmpeg));
      rssPeak.node = Math.max(rssPeak.node, rssMb(pids.node));
    }
    const wall = (performance.now() - t0) / 1000;
    const pct = {
      ffmpeg: ((cpuSeconds(pids.ffmpeg) - c0.ffmpeg) / wall) * 100,
      node: ((cpuSeconds(pids.node) - c0.node) / wall) * 100,
    };
    const rows = [
      ['process', 'pid', 'cpu % of one core', 'peak RSS MiB'],
      [
        'ffmpeg (encode ladder + package HLS TS/fMP4 + DASH)',
        String(pids.ffmpeg),
        pct.ffmpeg.toFixed(1),
        rssPeak.ffmpeg.toFixed(0),
      ],
      ['node (paint frames + origin)', String(pids.node), pct.node.toFixed(1), rssPeak.node.toFixed(0)],
      ['total', '', (pct.ffmpeg + pct.node).toFixed(1), (rssPeak.ffmpeg + rssPeak.node).toFixed(0)],
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    console.log(
      `testbed budget: ladder=${ladder}, streams=${tb.streams.map((s) => s.id).join(',')}, window ${wall.toFixed(1)} s`,
    );
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
    console.log(
      `testbed_cpu_pct=${(pct.ffmpeg + pct.node).toFixed(1)} testbed_rss_mb=${(rssPeak.ffmpeg + rssPeak.node).toFixed(0)}`,
    );
  } finally {
    await tb.stop();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
