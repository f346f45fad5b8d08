import { formatPdt, parseMediaPlaylist, serializeMediaPlaylist } from './hls.js';
import type { ResourceRef } from './layout.js';
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
}
