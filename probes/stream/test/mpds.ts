/** Crafted MPDs for the DASH unit tests. */
export interface MpdSpec {
  ast: number;
  /** Index of the first and last segment in the timeline (2 s segments, timescale 1000). */
  first: number;
  last: number;
  publish?: number;
  mup?: string;
  tsbd?: string | null;
  utc?: string;
  r?: string;
}

export function mpdText(s: MpdSpec): string {
  const tsbd =
    s.tsbd === undefined
      ? ' timeShiftBufferDepth="PT12S"'
      : s.tsbd === null
        ? ''
        : ` timeShiftBufferDepth="${s.tsbd}"`;
  return `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="${new Date(s.ast).toISOString()}" publishTime="${new Date(s.publish ?? s.ast).toISOString()}" minimumUpdatePeriod="${s.mup ?? 'PT2S'}"${tsbd} maxSegmentDuration="PT2S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">
<Period id="0" start="PT0S">
<AdaptationSet contentType="video" mimeType="video/mp4">
<SegmentTemplate timescale="1000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg_$Number$.m4s" startNumber="${s.first}">
<SegmentTimeline><S t="${s.first * 2000}" d="2000" r="${s.r ?? s.last - s.first}"/></SegmentTimeline>
</SegmentTemplate>
<Representation id="v720" bandwidth="1000000" width="1280" height="720" codecs="avc1.64001f"/>
<Representation id="v360" bandwidth="400000" width="640" height="360" codecs="avc1.64001e"/>
</AdaptationSet>
<AdaptationSet contentType="audio" mimeType="audio/mp4" lang="en">
<SegmentTemplate timescale="1000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg_$Number$.m4s" startNumber="${s.first}">
<SegmentTimeline><S t="${s.first * 2000}" d="2000" r="${s.r ?? s.last - s.first}"/></SegmentTimeline>
</SegmentTemplate>
<Representation id="a128" bandwidth="128000" codecs="mp4a.40.2"/>
</AdaptationSet>
</Period>
${s.utc ? `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${s.utc}"/>` : ''}
</MPD>
`;
}
