import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './fleet.js';
import { freePort, stopProcess, tempDir } from './procs.js';

export interface PrometheusChild {
  url: string;
  child: ChildProcess;
  /** An instant query; the `result` array of a successful answer (throws on an error answer). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus (the Debian package's binary) on a free loopback port, with a temp config that scrapes
 * `targets` (host:port) every second as job "liveprobe" (the job name the shipped rules and dashboards use),
 * and a temp TSDB. Resolves once it answers /-/ready.
 */
export async function startPrometheus(
  targets: string[],
  opts: { ruleFiles?: string[] } = {},
): Promise<PrometheusChild> {
  const dir = tempDir('prometheus');
  const port = await freePort();
  const config = join(dir.path, 'prometheus.yml');
  writeFileSync(
    config,
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: opts.ruleFiles ?? [],
      scrape_configs: [{ job_name: 'liveprobe', static_configs: [{ targets }] }],
    }),
  );
  let output = '';
  const child = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir.path, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`prometheus exited (${code}): ${output}`))),
  );
  exited.catch(() => undefined);
  await Promise.race([
    waitFor(
      'prometheus ready',
      () =>
        fetch(`${url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        ),
      60_000,
      200,
    ),
    exited,
  ]);
  return {
    url,
    child,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? res.status}`);
      return body.data?.result ?? [];
    },
    async stop() {
      await stopProcess(child);
      dir.remove();
    },
  };
}
