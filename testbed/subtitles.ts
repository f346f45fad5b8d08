/**
 * The WebVTT subtitle rendition. ffmpeg has no live caption source, so the testbed writes it: whenever the
 * stream's reference video playlist publishes a new version, one `.vtt` segment per new video segment (same
 * media sequence number, same duration; one cue per second carrying the wall-clock capture time of that
 * second) and a media playlist with the same window. Files go to disk (temp + rename), so the origin, the
 * playlist store and every fault treat the rendition like any ffmpeg-written one.
 *
 * X-TIMESTAMP-MAP maps LOCAL 0 to the video segment's first presentation time (read from the segment: the
 * first PES PTS of a TS segment; tfdt x 90000 / timescale of an fMP4 one), so a player shows the cues with
 * the picture they belong to.
 */
import { open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../shared/log.js';
import { type MediaPlaylist, parseMediaPlaylist, serializeMediaPlaylist } from './hls.js';
import type { StreamLayout } from './layout.js';
import type { ManifestVersion, PlaylistStore } from './playlists.js';
import type { TimelineTruth } from './truth.js';

const VTT_NAME = /^seg_(\d+)\.vtt$/;

export function vttSegmentName(seq: number): string {
  return `seg_${String(seq).padStart(5, '0')}.vtt`;
}

function vttTime(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const f = Math.round(ms % 1000);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(f).padStart(3, '0')}`;
}

/**
 * One segment's WebVTT body: a cue per second, each reading the wall-clock capture time (UTC) it shows. Cue
 * times start at `mediaMs` (0 for HLS, where X-TIMESTAMP-MAP places them; the segment's Period time for
 * DASH, whose players read cue times on the Period timeline).
 */
export function vttSegment(
  startMs: number,
  durationS: number,
  pts90k: number | undefined,
  mediaMs = 0,
): string {
  const lines = ['WEBVTT'];
  if (pts90k !== undefined) lines.push(`X-TIMESTAMP-MAP=MPEGTS:${pts90k},LOCAL:00:00:00.000`);
  lines.push('');
  const totalMs = Math.round(durationS * 1000);
  for (let t = 0; t < totalMs; t += 1000) {
    const end = Math.min(t + 1000, totalMs);
    const clock = new Date(startMs + t).toISOString().slice(11, 19);
    lines.push(`${vttTime(mediaMs + t)} --> ${vttTime(mediaMs + end)}`, `${clock} UTC`, '');
  }
  return lines.join('\n');
}

/** DASH text segment file name for $Number$ n (DASH_VTT_TEMPLATE). */
export function dashVttSegmentName(n: number): string {
  return `sub-${String(n).padStart(5, '0')}.vtt`;
}
const DASH_VTT_NAME = /^sub-(\d+)\.vtt$/;
/** ffmpeg's DASH media segments of the first video Representation: one text segment per $Number$. */
const DASH_VIDEO_CHUNK = /^chunk-stream0-(\d+)\.m4s(?:\.tmp)?$/;
/** Text segments written at most this many numbers past ffmpeg's newest video segment. */
const MAX_AHEAD = 30;

/** First PES PTS (90 kHz) of an MPEG-TS buffer; undefined when none is found. */
export function firstTsPts(buf: Buffer): number | undefined {
  for (let off = 0; off + 188 <= buf.length; off += 188) {
    if (buf[off] !== 0x47) return undefined;
    const pusi = (buf[off + 1]! & 0x40) !== 0;
    const pid = ((buf[off + 1]! & 0x1f) << 8) | buf[off + 2]!;
    if (!pusi || pid === 0 || pid === 0x1fff) continue;
    const afc = (buf[off + 3]! >> 4) & 0x3;
    let p = off + 4;
    if (afc === 2) continue;
    if (afc === 3) p += 1 + buf[p]!;
    if (p + 14 > off + 188) continue;
    if (buf[p] !== 0 || buf[p + 1] !== 0 || buf[p + 2] !== 1) continue;
    const flags = buf[p + 7]!;
    if ((flags & 0x80) === 0) continue;
    const b = buf.subarray(p + 9, p + 14);
    // 33 bits spread over 5 bytes with marker bits; multiply instead of shifting (JS shifts are 32-bit).
    return (
      ((b[0]! >> 1) & 0x07) * 2 ** 30 + (b[1]! << 22) + ((b[2]! >> 1) << 15) + (b[3]! << 7) + (b[4]! >> 1)
    );
  }
  return undefined;
}

function findBox(buf: Buffer, type: string): number {
  return buf.indexOf(Buffer.from(type, 'latin1'));
}

/** mdhd timescale of the first track of an init segment. */
export function mp4Timescale(init: Buffer): number | undefined {
  const i = findBox(init, 'mdhd');
  if (i < 0 || i + 24 > init.length) return undefined;
  const version = init[i + 4];
  const at = version === 1 ? i + 4 + 4 + 16 : i + 4 + 4 + 8;
  return at + 4 <= init.length ? init.readUInt32BE(at) : undefined;
}

/** tfdt baseMediaDecodeTime of the first fragment of a media segment. */
export function mp4BaseTime(seg: Buffer): number | undefined {
  const i = findBox(seg, 'tfdt');
  if (i < 0 || i + 16 > seg.length) return undefined;
  const version = seg[i + 4];
  if (version === 1) return i + 16 <= seg.length ? Number(seg.readBigUInt64BE(i + 8)) : undefined;
  return seg.readUInt32BE(i + 8);
}

async function head(file: string, bytes: number): Promise<Buffer | undefined> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, 'r');
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

export interface SubtitleWriterOptions {
  root: string;
  layout: StreamLayout[];
  store: PlaylistStore;
  truth: TimelineTruth;
  /** vtt files kept on disk after they leave the window (as for ffmpeg's segments). */
  keepExtraSegments: number;
  logger: Logger;
}

interface Track {
  /** Reference video playlist (root-relative) and its directory. */
  video: string;
  videoDir: string;
  container: 'ts' | 'fmp4';
  /** Subtitle playlist (root-relative) and its directory. */
  playlist: string;
  dir: string;
  written: Set<number>;
  chain: Promise<void>;
  prunedBelow: number;
}

/** A DASH stream's text Representation: files in the MPD's directory, written per $Number$. */
interface DashTrack {
  mpd: string;
  dir: string;
  /** Capture time of media time 0 of the run the written files belong to. */
  runStart?: number;
  written: Set<number>;
  chain: Promise<void>;
}

export class SubtitleWriter {
  private readonly tracks: Track[] = [];
  private readonly dash: DashTrack[] = [];
  private readonly onVersion = (path: string, v: ManifestVersion) => {
    for (const t of this.dash) {
      if (t.mpd !== path) continue;
      t.chain = t.chain
        .then(() => this.writeDash(t, v))
        .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'DASH subtitle write failed'));
    }
    for (const t of this.tracks) {
      if (t.video !== path) continue;
      t.chain = t.chain
        .then(() => this.write(t, v))
        .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'subtitle write failed'));
    }
  };

  constructor(private readonly opts: SubtitleWriterOptions) {
    for (const s of opts.layout) {
      if (s.protocol === 'dash') {
        if (s.renditions.some((r) => r.type === 'subtitles'))
          this.dash.push({
            mpd: s.entry,
            dir: s.entry.slice(0, s.entry.lastIndexOf('/')),
            written: new Set(),
            chain: Promise.resolve(),
          });
        continue;
      }
      if (s.protocol !== 'hls') continue;
      const sub = s.renditions.find((r) => r.type === 'subtitles' && r.playlist);
      const video = s.renditions.find((r) => r.type === 'video' && r.playlist);
      if (!sub || !video) continue;
      this.tracks.push({
        video: video.playlist!,
        videoDir: video.playlist!.slice(0, video.playlist!.lastIndexOf('/')),
        container: s.container,
        playlist: sub.playlist!,
        dir: sub.playlist!.slice(0, sub.playlist!.lastIndexOf('/')),
        written: new Set(),
        chain: Promise.resolve(),
        prunedBelow: 0,
      });
    }
  }

  start(): void {
    this.opts.store.on('version', this.onVersion);
  }

  async stop(): Promise<void> {
    this.opts.store.off('version', this.onVersion);
    await Promise.all([...this.tracks.map((t) => t.chain), ...this.dash.map((t) => t.chain)]);
  }

  /**
   * On each MPD ffmpeg writes: one WebVTT file per video segment file present (ffmpeg creates segment N when
   * it starts writing it, as .tmp) and ahead of it, cue times on the Period timeline ((N - startNumber) x duration);
   * text files older than ffmpeg's oldest video segment are deleted. A new ffmpeg run (new availabilityStartTime) rewrites them for its timeline.
   */
  private async writeDash(t: DashTrack, v: ManifestVersion): Promise<void> {
    const tpl = /<SegmentTemplate\b[^>]*>/.exec(v.text)?.[0] ?? '';
    const timescale = Number(/\btimescale="(\d+)"/.exec(tpl)?.[1]);
    const duration = Number(/\bduration="(\d+)"/.exec(tpl)?.[1]);
    const startNumber = Number(/\bstartNumber="(\d+)"/.exec(tpl)?.[1] ?? 1);
    const ast = Date.parse(/availabilityStartTime="([^"]+)"/.exec(v.text)?.[1] ?? '');
    if (!(timescale > 0) || !(duration > 0) || !Number.isFinite(ast)) return;
    const runStart = this.opts.truth.runStartBefore(ast);
    if (runStart === undefined) return;
    if (runStart !== t.runStart) {
      t.runStart = runStart;
      t.written.clear();
    }
    const segMs = (duration / timescale) * 1000;
    let names: string[];
    try {
      names = await readdir(join(this.opts.root, t.dir));
    } catch {
      return;
    }
    const video = new Set<number>();
    for (const n of names) {
      const m = DASH_VIDEO_CHUNK.exec(n);
      if (m) video.add(Number(m[1]));
    }
    if (video.size === 0) return;
    const first = Math.min(...video);
    // Ahead of ffmpeg: up to two numbers past the newest video segment and past the one the MPD's clock
    // makes available (the served availabilityStartTime is runStart). Cues are known from the clock, and a
    // missing text segment is fatal to dash.js, while a late video segment (an encoder behind real time on
    // a loaded machine) is only a stall: captions must never be the first thing to fail.
    const byClock = Math.floor((Date.now() - runStart) / segMs) + startNumber;
    const last = Math.min(Math.max(Math.max(...video), byClock), Math.max(...video) + MAX_AHEAD);
    for (let n = first; n <= last + 2; n++) {
      if (t.written.has(n) || n < startNumber) continue;
      const mediaMs = Math.round((n - startNumber) * segMs);
      const file = join(this.opts.root, t.dir, dashVttSegmentName(n));
      await writeFile(`${file}.tmp`, vttSegment(runStart + mediaMs, segMs / 1000, undefined, mediaMs));
      await rename(`${file}.tmp`, file);
      t.written.add(n);
    }
    for (const n of names) {
      const m = DASH_VTT_NAME.exec(n);
      if (m && Number(m[1]) < first) {
        t.written.delete(Number(m[1]));
        await unlink(join(this.opts.root, t.dir, n)).catch(() => {});
      }
    }
  }

  private async pts90k(t: Track, uri: string, initUri: string | undefined): Promise<number | undefined> {
    const file = join(this.opts.root, t.videoDir, uri);
    const buf = await head(file, 64 * 1024);
    if (!buf) return undefined;
    if (t.container === 'ts') return firstTsPts(buf);
    const base = mp4BaseTime(buf);
    let init: Buffer | undefined;
    try {
      init = await readFile(join(this.opts.root, t.videoDir, initUri ?? 'init.mp4'));
    } catch {
      return undefined;
    }
    const scale = mp4Timescale(init);
    return base !== undefined && scale ? Math.round((base * 90_000) / scale) : undefined;
  }

  private async write(t: Track, v: ManifestVersion): Promise<void> {
    const video = parseMediaPlaylist(v.text);
    const initUri = /#EXT-X-MAP:URI="([^"/]+)"/.exec(v.text)?.[1];
    const keep = new Set<number>();
    const segments: MediaPlaylist['segments'] = [];
    for (const s of video.segments) {
      const start = this.opts.truth.segmentStart(t.video, s.seq) ?? s.pdt;
      if (start === undefined) break;
      const name = vttSegmentName(s.seq);
      if (!t.written.has(s.seq)) {
        const body = vttSegment(start, s.duration, await this.pts90k(t, s.uri, initUri));
        const file = join(this.opts.root, t.dir, name);
        await writeFile(`${file}.tmp`, body);
        await rename(`${file}.tmp`, file);
        t.written.add(s.seq);
      }
      keep.add(s.seq);
      segments.push({
        seq: s.seq,
        uri: name,
        duration: s.duration,
        pdt: start,
        tags: s.tags.filter(
          (l) =>
            l.startsWith('#EXTINF:') ||
            l.startsWith('#EXT-X-PROGRAM-DATE-TIME:') ||
            l === '#EXT-X-DISCONTINUITY',
        ),
      });
    }
    if (segments.length === 0) return;
    const header = video.header.filter(
      (l) =>
        l === '#EXTM3U' ||
        l.startsWith('#EXT-X-VERSION:') ||
        l.startsWith('#EXT-X-TARGETDURATION:') ||
        l.startsWith('#EXT-X-MEDIA-SEQUENCE:') ||
        l.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:'),
    );
    const text = serializeMediaPlaylist({ ...video, header, segments, trailer: [] });
    const file = join(this.opts.root, t.playlist);
    await writeFile(`${file}.tmp`, text);
    await rename(`${file}.tmp`, file);
    // Publish now rather than on the directory watch's next event: the subtitle playlist must not trail its
    // video playlist by more than the write itself (a stale-rule margin at TD 1 s is 0.5 s).
    await this.opts.store.refresh(t.playlist);
    const below = segments[0]!.seq - this.opts.keepExtraSegments;
    if (below > t.prunedBelow) {
      t.prunedBelow = below;
      await this.prune(t, below);
    }
  }

  /** Deletes vtt files older than the window plus the kept extra segments. */
  private async prune(t: Track, below: number): Promise<void> {
    for (const seq of t.written) if (seq < below) t.written.delete(seq);
    let names: string[];
    try {
      names = await readdir(join(this.opts.root, t.dir));
    } catch {
      return;
    }
    for (const n of names) {
      const m = VTT_NAME.exec(n);
      if (m && Number(m[1]) < below) await unlink(join(this.opts.root, t.dir, n)).catch(() => {});
    }
  }
}
