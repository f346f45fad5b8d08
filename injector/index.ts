import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { Gauge, Registry } from 'prom-client';
import { canonicalPlacement, placementName } from '../shared/clock.js';
import { estimateClockOffset } from '../shared/clock-offset.js';
import type { Config } from '../shared/config.js';
import { type Logger, redactUrl } from '../shared/log.js';
import { InjectorHeartbeat } from '../shared/schemas.js';
import { names as subjectNames } from '../shared/subjects.js';
import { connectNats, encodeJson } from '../shared/transport.js';
import { VERSION } from '../shared/version.js';
import { Injector } from './injector.js';
import type { InjectOptions } from './options.js';

export interface RunningInjector {
  injector: Injector;
  /** Bound metrics port (when --metrics-port was given). */
  metricsPort?: number;
  heartbeat(): InjectorHeartbeat;
  /** Re-measures the clock offset now and applies it (also done every offsetRefreshS). */
  refreshOffset(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts one injector: measures the host clock offset against the controller (when NATS is reachable),
 * starts painting, and reports itself as heartbeats on NATS and as Prometheus metrics.
 */
export async function startInjector(opts: {
  options: InjectOptions;
  config: Config;
  logger: Logger;
  ffmpegPath?: string;
}): Promise<RunningInjector> {
  const { options: o, config, logger } = opts;
  const names = subjectNames(config.nats.prefix);
  let nc: NatsConnection | undefined;
  if (o.nats) {
    try {
      nc = await connectNats(config.nats, `liveprobe-injector-${o.id}`, logger);
    } catch (err) {
      // The feed matters more than the reporting: paint anyway, say so.
      logger.warn(
        { err: (err as Error).message },
        'NATS unreachable: no heartbeats, no measured clock offset',
      );
    }
  }
  let measured = nc ? await estimateClockOffset(nc, names, 7) : undefined;
  let offsetMeasuredAt = measured !== undefined ? Date.now() : undefined;
  const clockSource =
    measured !== undefined ? 'controller' : o.clockOffsetMs !== undefined ? 'manual' : 'none';
  const applied = measured ?? o.clockOffsetMs ?? 0;
  logger.info({ clockOffsetMs: applied, clockSource }, 'stamp clock');

  const startedAt = new Date();
  const placement = canonicalPlacement({ corner: o.corner, size: o.size });
  const injector = new Injector({
    args: {
      input: o.in,
      output: o.out,
      loop: o.loop,
      placement,
      id: o.id,
      // Host clock minus offset = reference clock.
      stampCorrectionMs: -applied,
      encode: { preset: o.preset, bitrate: o.videoBitrate, gop: o.gop },
    },
    passthroughOnError: o.passthroughOnError,
    painter: o.painter,
    logger,
    ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
  });

  const heartbeat = (): InjectorHeartbeat => {
    const s = injector.stats();
    const delay = injector.delayMs();
    return InjectorHeartbeat.parse({
      id: o.id,
      name: o.name,
      ...(o.site ? { site: o.site } : {}),
      version: VERSION,
      startedAt: startedAt.toISOString(),
      at: new Date().toISOString(),
      uptimeS: Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
      mode: s.mode,
      placement: placementName(placement),
      input: redactUrl(o.in),
      output: redactUrl(o.out),
      framesPainted: s.framesPainted,
      framesPassed: s.framesPassed,
      ...(delay !== undefined ? { addedDelayMs: delay } : {}),
      ...(measured !== undefined ? { clockOffsetMs: measured } : {}),
      // What frames get now (host minus reference): follows clockOffsetMs as it is re-measured.
      appliedOffsetMs: -injector.appliedCorrectionMs,
      ...(offsetMeasuredAt !== undefined
        ? { offsetMeasuredAt: new Date(offsetMeasuredAt).toISOString() }
        : {}),
      clockSource,
      restarts: s.restarts,
      decodeErrors: s.decodeErrors,
      framesConcealed: s.framesConcealed,
    });
  };

  // Metrics are read at scrape time from the same numbers the heartbeat carries.
  const registry = new Registry();
  const labels = { injector: String(o.id), name: o.name };
  let latest: InjectorHeartbeat | undefined;
  const gauge = (name: string, help: string, read: (h: InjectorHeartbeat) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['injector', 'name'],
      registers: [registry],
      collect() {
        const v = latest ? read(latest) : undefined;
        if (v !== undefined) this.set(labels, v);
      },
    });
  gauge('liveprobe_injector_frames_painted', 'Frames that left with the clock strip', (h) => h.framesPainted);
  gauge(
    'liveprobe_injector_frames_passed',
    'Frames that left unpainted (passthrough)',
    (h) => h.framesPassed,
  );
  gauge(
    'liveprobe_injector_added_delay_ms',
    'Stamp to encoder, median of the last interval',
    (h) => h.addedDelayMs,
  );
  gauge(
    'liveprobe_injector_clock_offset_ms',
    'Stamp correction applied (host minus reference)',
    (h) => h.appliedOffsetMs,
  );
  gauge('liveprobe_injector_uptime_seconds', 'Seconds since the injector started', (h) => h.uptimeS);
  gauge('liveprobe_injector_painting', '1 while frames get the strip', (h) => (h.mode === 'paint' ? 1 : 0));
  gauge('liveprobe_injector_restarts', 'ffmpeg runs replaced', (h) => h.restarts);
  gauge('liveprobe_injector_decode_errors', 'Input decode errors reported by ffmpeg', (h) => h.decodeErrors);
  gauge(
    'liveprobe_injector_frames_concealed',
    'Painted frames the decoder reported errors for (concealed pictures)',
    (h) => h.framesConcealed,
  );

  let server: Server | undefined;
  let metricsPort: number | undefined;
  if (o.metricsPort !== undefined) {
    const srv = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      latest = heartbeat();
      registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
        .catch((err: Error) => res.writeHead(500).end(err.message));
    });
    server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(o.metricsPort, o.metricsHost, () => resolve());
    });
    metricsPort = (srv.address() as AddressInfo).port;
    logger.info({ port: metricsPort, host: o.metricsHost }, 'injector metrics on /metrics');
  }

  injector.start(o.passthrough ? 'passthrough' : 'paint');
  const publish = () => {
    latest = heartbeat();
    if (nc && !nc.isClosed()) nc.publish(names.injector(o.id), encodeJson(latest));
  };
  const hbTimer = setInterval(publish, o.heartbeatS * 1000);
  // The offset is re-measured every offsetRefreshS and applied to the running painter (a filter command,
  // no restart: Injector.setCorrection), so a drifting host clock does not drift the stamps. A manual
  // offset (no controller to measure against) stays as given.
  const refreshOffset = async () => {
    if (!nc || nc.isClosed()) return;
    const m = await estimateClockOffset(nc, names, 7);
    if (m === undefined) return;
    measured = m;
    offsetMeasuredAt = Date.now();
    if (clockSource === 'controller') injector.setCorrection(-m);
  };
  const offsetTimer = setInterval(() => void refreshOffset().catch(() => undefined), o.offsetRefreshS * 1000);

  return {
    injector,
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    heartbeat,
    refreshOffset,
    async stop() {
      clearInterval(hbTimer);
      clearInterval(offsetTimer);
      await injector.stop();
      publish();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      if (nc) await nc.drain().catch(() => undefined);
    },
  };
}
