import { z } from 'zod';
import { MAX_STRIP_ID, STRIP_CORNERS, STRIP_SIZES, type StripSize } from '../shared/clock.js';
import { DEFAULT_PAINTER, PAINTERS } from './painters.js';

const INPUT = /^(srt|udp|rtp|rtmps?|tcp|file):\/\/|^[^:]+$/i;
const OUTPUT = /^(srt|udp|rtp|rtmps?|tcp|file):\/\/|^[^:]+$/i;

/** `liveprobe inject` options, validated before anything starts (a typo must not reach a live feed). */
export const InjectOptions = z.strictObject({
  in: z.string().min(1).regex(INPUT, 'input must be srt://, udp://, rtp://, rtmp://, tcp:// or a file'),
  out: z.string().min(1).regex(OUTPUT, 'output must be srt://, udp://, rtp://, rtmp://, tcp:// or a file'),
  id: z.coerce.number().int().min(1).max(MAX_STRIP_ID),
  name: z.string().min(1).max(100).default('injector'),
  site: z.string().max(100).optional(),
  corner: z.enum(STRIP_CORNERS).default('bottom-left'),
  size: z.coerce
    .number()
    .refine((n): n is StripSize => (STRIP_SIZES as readonly number[]).includes(n), {
      message: `size must be one of ${STRIP_SIZES.join(', ')}`,
    })
    .default(0.5),
  loop: z.boolean().default(false),
  passthroughOnError: z.boolean().default(false),
  /** Who paints (injector.ts Painter): node leaves pictures the decoder flags corrupt unpainted. */
  painter: z.enum(PAINTERS).default(DEFAULT_PAINTER),
  /** Never paint: carry the feed unpainted (an A/B baseline of the injector's own cost). */
  passthrough: z.boolean().default(false),
  preset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium']).default('ultrafast'),
  videoBitrate: z.coerce.number().int().min(100_000).max(100_000_000).default(8_000_000),
  gop: z.coerce.number().int().min(0).max(1000).default(0),
  /** Host clock minus reference clock, when no controller is reachable to measure it. */
  clockOffsetMs: z.coerce.number().int().min(-86_400_000).max(86_400_000).optional(),
  metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
  metricsHost: z.string().default('127.0.0.1'),
  heartbeatS: z.coerce.number().positive().max(3600).default(5),
  /** How often the clock offset is re-measured against the controller and applied to the painter. */
  offsetRefreshS: z.coerce.number().min(5).max(86_400).default(60),
  /** Publish heartbeats and measure the clock offset over NATS (config nats.*). */
  nats: z.boolean().default(true),
});
export type InjectOptions = z.infer<typeof InjectOptions>;
