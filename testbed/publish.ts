import { formatPdt, parseMediaPlaylist, serializeMediaPlaylist } from './hls.js';
import { DASH_VTT_TEMPLATE, type ResourceRef, SUBTITLE_BANDWIDTH } from './layout.js';
import type { ManifestView, OriginHooks, ServePlan } from './origin.js';
import type { ManifestVersion } from './playlists.js';
import type { TimelineTruth } from './truth.js';

/**
 * The fault-free publication view: manifests as ffmpeg wrote them, with timing corrected to the source's
 * truth (PROGRAM-DATE-TIME = capture time of each segment's first frame).
 */
export class TruthfulPublisher implements OriginHooks {
  private readonly cache = new WeakMap<ManifestVersion, string>();

  constructor(private readonly truth: TimelineTruth) {}

  plan(): ServePlan {
    return {};
  }

  segmentVisible(): boolean {
    return true;
  }

  manifest(ref: ResourceRef, version: ManifestVersion | undefined): ManifestView | undefined {
    if (!version) return undefined;
    return { text: this.text(ref, version), at: version.at };
  }

  /** The corrected text of one version (cached once every segment's truth is known). */
  text(ref: ResourceRef, version: ManifestVersion): string {
    if (ref.kind === 'mpd') return this.mpdText(ref, version);
    if (ref.kind === 'master') return withSubtitles(ref, version.text);
    if (ref.kind !== 'playlist') return version.text;
    const cached = this.cache.get(version);
    if (cached !== undefined) return cached;
    const p = parseMediaPlaylist(version.text);
    let complete = true;
    for (const s of p.segments) {
      const t = this.truth.segmentStart(ref.path, s.seq);
      if (t === undefined) {
        complete = false;
        continue;
      }
      s.pdt = t;
      const i = s.tags.findIndex((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME:'));
      const tag = `#EXT-X-PROGRAM-DATE-TIME:${formatPdt(t)}`;
      if (i >= 0) s.tags[i] = tag;
      else s.tags.push(tag);
    }
    const text = serializeMediaPlaylist(p);
    if (complete) this.cache.set(version, text);
    return text;
  }

  /**
   * MPD: availabilityStartTime and ProducerReferenceTime@wallClockTime become the capture time of media
   * time 0 (frame 0 of the ffmpeg run that wrote this MPD) instead of ffmpeg's later start-up time.
   */
  private mpdText(ref: ResourceRef, version: ManifestVersion): string {
    const cached = this.cache.get(version);
    if (cached !== undefined) return cached;
    const m = /availabilityStartTime="([^"]+)"/.exec(version.text);
    const ffmpegAst = m ? Date.parse(m[1]!) : Number.NaN;
    const start = Number.isFinite(ffmpegAst) ? this.truth.runStartBefore(ffmpegAst) : undefined;
    if (start === undefined) return withTextAdaptationSet(ref, version.text);
    const iso = new Date(start).toISOString();
    // ffmpeg suggests one segment of delay; segments are published a little after their capture ends, so
    // a player that honours it sits at the live edge and stalls on a healthy stream. Three segments is
    // what the HLS side gets (hold-back = 3 x target duration, RFC 8216).
    const seg = /maxSegmentDuration="PT([\d.]+)S"/.exec(version.text);
    const delay = seg ? `PT${(3 * Number(seg[1])).toFixed(1)}S` : undefined;
    const text = withTextAdaptationSet(ref, version.text)
      .replace(/suggestedPresentationDelay="[^"]+"/, (d) =>
        delay ? `suggestedPresentationDelay="${delay}"` : d,
      )
      .replace(/availabilityStartTime="[^"]+"/, `availabilityStartTime="${iso}"`)
      .replace(
        /(<ProducerReferenceTime\b[^>]*\bwallClockTime=")[^"]+("[^>]*\bpresentationTime="0")/g,
        `$1${iso}$2`,
      );
    this.cache.set(version, text);
    return text;
  }
}

/**
 * ffmpeg's master knows nothing of the subtitle rendition the testbed writes: declare it (one EXT-X-MEDIA
 * TYPE=SUBTITLES, group "subs") and reference the group from every variant. DEFAULT=NO, AUTOSELECT=NO: a
 * player loads it only when a caption track is selected.
 */
export function withSubtitles(ref: ResourceRef, text: string): string {
  const sub = ref.stream.renditions.find((r) => r.type === 'subtitles' && r.playlist);
  if (!sub || text.includes('TYPE=SUBTITLES')) return text;
  const base = ref.stream.entry.slice(0, ref.stream.entry.lastIndexOf('/') + 1);
  const uri = sub.playlist!.slice(base.length);
  const media = `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="${sub.name}",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=NO,FORCED=NO,URI="${uri}"`;
  const out: string[] = [];
  let declared = false;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      if (!declared) {
        out.push(media);
        declared = true;
      }
      out.push(`${line},SUBTITLES="${sub.name}"`);
    } else out.push(line);
  }
  return out.join('\n');
}

/**
 * ffmpeg's MPD knows nothing of the WebVTT rendition the testbed writes: a text AdaptationSet (text/vtt, one
 * WebVTT file per segment, the video's SegmentTemplate timing: $Number$ N covers the same media time as video
 * segment N) is added to the Period. The form dash.js plays (segmented text/vtt) and mpd-parser lists
 * (a SUBTITLES group). Cue times in the files are on the Period timeline (dash.js adds no offset).
 */
export function withTextAdaptationSet(ref: ResourceRef, text: string): string {
  const sub = ref.stream.renditions.find((r) => r.type === 'subtitles' && r.representationId !== undefined);
  if (!sub || text.includes('mimeType="text/vtt"')) return text;
  const tpl = /<SegmentTemplate\b[^>]*>/.exec(text)?.[0];
  const timescale = tpl && /\btimescale="(\d+)"/.exec(tpl)?.[1];
  const duration = tpl && /\bduration="(\d+)"/.exec(tpl)?.[1];
  const startNumber = (tpl && /\bstartNumber="(\d+)"/.exec(tpl)?.[1]) ?? '1';
  const end = text.lastIndexOf('</Period>');
  if (!timescale || !duration || end < 0) return text;
  const set = [
    `\t\t<AdaptationSet id="${sub.representationId}" contentType="text" mimeType="text/vtt" lang="en" segmentAlignment="true">`,
    '\t\t\t<Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/>',
    `\t\t\t<Representation id="${sub.representationId}" bandwidth="${SUBTITLE_BANDWIDTH}">`,
    `\t\t\t\t<SegmentTemplate timescale="${timescale}" duration="${duration}" media="${DASH_VTT_TEMPLATE}" startNumber="${startNumber}"/>`,
    '\t\t\t</Representation>',
    '\t\t</AdaptationSet>',
    '',
  ].join('\n');
  return `${text.slice(0, end)}${set}\t${text.slice(end)}`;
}
