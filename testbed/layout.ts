/**
 * What the testbed publishes and where: the ladder, the stream flavours (HLS TS, HLS fMP4, DASH) and the
 * mapping from a request path to (stream, rendition, kind, sequence) that the origin and faults use.
 */

export type Ladder = 'full' | 'single';
export type StreamId = 'hls-ts' | 'hls-fmp4' | 'dash';
export type ResourceKind = 'master' | 'playlist' | 'mpd' | 'init' | 'segment';

export interface VideoRung {
  name: string;
  width: number;
  height: number;
  bitrate: number; // bits/s
}

export const FULL_LADDER: VideoRung[] = [
  { name: '360p', width: 640, height: 360, bitrate: 800_000 },
  { name: '240p', width: 426, height: 240, bitrate: 400_000 },
  { name: '144p', width: 256, height: 144, bitrate: 150_000 },
];
export const AUDIO_BITRATE = 64_000;
/** The WebVTT subtitle rendition of the full ladder (HLS: EXT-X-MEDIA TYPE=SUBTITLES; DASH: text/vtt). */
export const SUBTITLES_NAME = 'subs';
/** DASH: the text Representation's media template (files written by testbed/subtitles.ts). */
export const DASH_VTT_TEMPLATE = 'sub-$Number%05d$.vtt';
/** DASH @bandwidth of the text Representation (one short cue a second; @bandwidth is mandatory). */
export const SUBTITLE_BANDWIDTH = 2000;

export interface RenditionLayout {
  name: string;
  /** subtitles: a WebVTT rendition the testbed writes itself (testbed/subtitles.ts), not ffmpeg. */
  type: 'video' | 'audio' | 'subtitles';
  bandwidth: number;
  width?: number;
  height?: number;
  /** HLS: media playlist path relative to the origin root. */
  playlist?: string;
  /** DASH: Representation@id in the MPD. */
  representationId?: string;
}

export interface StreamLayout {
  id: StreamId;
  protocol: 'hls' | 'dash';
  container: 'ts' | 'fmp4';
  /** Master playlist or MPD, relative to the origin root. */
  entry: string;
  renditions: RenditionLayout[];
}

export function buildLayout(ladder: Ladder): StreamLayout[] {
  if (ladder === 'single') {
    const r = FULL_LADDER[0]!;
    return [
      {
        id: 'hls-ts',
        protocol: 'hls',
        container: 'ts',
        entry: 'hls-ts/master.m3u8',
        renditions: [
          {
            name: r.name,
            type: 'video',
            bandwidth: r.bitrate + AUDIO_BITRATE,
            width: r.width,
            height: r.height,
            playlist: `hls-ts/${r.name}/index.m3u8`,
          },
        ],
      },
    ];
  }
  const hls = (id: 'hls-ts' | 'hls-fmp4', container: 'ts' | 'fmp4'): StreamLayout => ({
    id,
    protocol: 'hls',
    container,
    entry: `${id}/master.m3u8`,
    renditions: [
      ...FULL_LADDER.map(
        (r): RenditionLayout => ({
          name: r.name,
          type: 'video',
          bandwidth: r.bitrate,
          width: r.width,
          height: r.height,
          playlist: `${id}/${r.name}/index.m3u8`,
        }),
      ),
      { name: 'audio', type: 'audio', bandwidth: AUDIO_BITRATE, playlist: `${id}/audio/index.m3u8` },
      {
        name: SUBTITLES_NAME,
        type: 'subtitles',
        bandwidth: 0,
        playlist: `${id}/${SUBTITLES_NAME}/index.m3u8`,
      },
    ],
  });
  return [
    hls('hls-ts', 'ts'),
    hls('hls-fmp4', 'fmp4'),
    {
      id: 'dash',
      protocol: 'dash',
      container: 'fmp4',
      entry: 'dash/manifest.mpd',
      renditions: [
        ...FULL_LADDER.map(
          (r, i): RenditionLayout => ({
            name: r.name,
            type: 'video',
            bandwidth: r.bitrate,
            width: r.width,
            height: r.height,
            representationId: String(i),
          }),
        ),
        {
          name: 'audio',
          type: 'audio',
          bandwidth: AUDIO_BITRATE,
          representationId: String(FULL_LADDER.length),
        },
        // A text AdaptationSet the testbed adds to ffmpeg's MPD (testbed/subtitles.ts, publish.ts).
        {
          name: SUBTITLES_NAME,
          type: 'subtitles',
          bandwidth: 0,
          representationId: String(FULL_LADDER.length + 1),
        },
      ],
    },
  ];
}

/** Directories ffmpeg writes into (relative to the root); created before it starts. */
export function outputDirs(layout: StreamLayout[]): string[] {
  const dirs = new Set<string>();
  for (const s of layout) {
    dirs.add(s.id);
    for (const r of s.renditions) if (r.playlist) dirs.add(r.playlist.slice(0, r.playlist.lastIndexOf('/')));
  }
  return [...dirs];
}

/** Every playlist / MPD path the origin tracks versions of. */
export function manifestPaths(layout: StreamLayout[]): string[] {
  const out: string[] = [];
  for (const s of layout) {
    out.push(s.entry);
    for (const r of s.renditions) if (r.playlist) out.push(r.playlist);
  }
  return out;
}

export interface ResourceRef {
  stream: StreamLayout;
  rendition?: RenditionLayout;
  kind: ResourceKind;
  /** Media sequence number (HLS) or segment $Number$ (DASH) of a segment. */
  seq?: number;
  /** Path relative to the origin root, e.g. "hls-ts/360p/seg_00012.ts". */
  path: string;
}

const HLS_SEGMENT = /^seg_(\d+)\.(ts|m4s)$/;
const VTT_SEGMENT = /^seg_(\d+)\.vtt$/;
const DASH_VTT_SEGMENT = /^sub-(\d+)\.vtt$/;
const HLS_INIT = /^init(_\d+)?\.mp4$/;
const DASH_SEGMENT = /^chunk-stream(\d+)-(\d+)\.m4s$/;
const DASH_INIT = /^init-stream(\d+)\.m4s$/;

/** Classifies a root-relative path; undefined when it is not something the testbed publishes. */
export function resolveResource(layout: StreamLayout[], path: string): ResourceRef | undefined {
  const parts = path.split('/');
  const stream = layout.find((s) => s.id === parts[0]);
  if (!stream) return undefined;
  if (path === stream.entry) return { stream, kind: stream.protocol === 'dash' ? 'mpd' : 'master', path };
  if (stream.protocol === 'hls') {
    if (parts.length !== 3) return undefined;
    const rendition = stream.renditions.find((r) => r.name === parts[1]);
    if (!rendition) return undefined;
    const file = parts[2]!;
    if (file === 'index.m3u8') return { stream, rendition, kind: 'playlist', path };
    if (rendition.type === 'subtitles') {
      const vtt = VTT_SEGMENT.exec(file);
      return vtt ? { stream, rendition, kind: 'segment', seq: Number(vtt[1]), path } : undefined;
    }
    const seg = HLS_SEGMENT.exec(file);
    if (seg && seg[2] === (stream.container === 'ts' ? 'ts' : 'm4s'))
      return { stream, rendition, kind: 'segment', seq: Number(seg[1]), path };
    if (stream.container === 'fmp4' && HLS_INIT.test(file)) return { stream, rendition, kind: 'init', path };
    return undefined;
  }
  if (parts.length !== 2) return undefined;
  const file = parts[1]!;
  const vtt = DASH_VTT_SEGMENT.exec(file);
  if (vtt) {
    const rendition = stream.renditions.find((r) => r.type === 'subtitles');
    return rendition ? { stream, rendition, kind: 'segment', seq: Number(vtt[1]), path } : undefined;
  }
  const seg = DASH_SEGMENT.exec(file);
  if (seg) {
    const rendition = stream.renditions.find((r) => r.representationId === String(Number(seg[1])));
    return rendition ? { stream, rendition, kind: 'segment', seq: Number(seg[2]), path } : undefined;
  }
  const init = DASH_INIT.exec(file);
  if (init) {
    const rendition = stream.renditions.find((r) => r.representationId === String(Number(init[1])));
    return rendition ? { stream, rendition, kind: 'init', path } : undefined;
  }
  return undefined;
}

export const CONTENT_TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.mpd': 'application/dash+xml',
  '.vtt': 'text/vtt; charset=utf-8',
};
