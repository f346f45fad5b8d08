import { describe, expect, it } from 'vitest';
import { looksLikeMaster, parseMaster, parseMedia } from './parse.js';

const MASTER = `#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en",DEFAULT=YES,URI="audio/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="Deutsch",LANGUAGE="de",URI="audio/de.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",URI="subs/en.m3u8"
#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aac",SUBTITLES="subs"
720p/index.m3u8?token=abc
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aac",SUBTITLES="subs"
360p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="720p/iframes.m3u8"
`;

describe('HLS parsing', () => {
  it('follows every variant and every audio/subtitle rendition with a URI, each once', () => {
    expect(looksLikeMaster(MASTER)).toBe(true);
    const r = parseMaster(MASTER, 0, 'https://cdn.example/live/master.m3u8');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.entries.map((e) => [e.type, e.name, e.url])).toEqual([
      ['video', '720p/index.m3u8?token=redacted', 'https://cdn.example/live/720p/index.m3u8?token=abc'],
      ['video', '360p/index.m3u8', 'https://cdn.example/live/360p/index.m3u8'],
      ['audio', 'audio/en.m3u8', 'https://cdn.example/live/audio/en.m3u8'],
      ['audio', 'audio/de.m3u8', 'https://cdn.example/live/audio/de.m3u8'],
      ['subtitles', 'subs/en.m3u8', 'https://cdn.example/live/subs/en.m3u8'],
    ]);
  });

  it('normalises endList (m3u8-parser leaves it undefined) and keeps explicit vs extrapolated PDT apart', () => {
    const t =
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n';
    const r = parseMedia(t, 0);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.endList).toBe(false);
    expect(r.value.segments.map((s) => [s.sn, s.pdtExplicit, s.pdt])).toEqual([
      [7, true, Date.parse('2024-05-01T12:00:00Z')],
      [8, false, Date.parse('2024-05-01T12:00:02Z')],
    ]);
  });

  it('turns garbage into an error, never a throw', () => {
    expect(parseMedia('<html>', 0).ok).toBe(false);
    expect(parseMedia('', 0).ok).toBe(false);
    const odd = parseMedia(
      '#EXTM3U\n#EXT-X-TARGETDURATION:abc\n#EXT-X-MEDIA-SEQUENCE:-4\n#EXTINF:x,\nz.ts\n',
      0,
    );
    expect(odd.ok).toBe(true);
    if (odd.ok) {
      expect(odd.value.targetDuration).toBeUndefined();
      expect(odd.value.mseq).toBe(0);
    }
    expect(
      parseMaster('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\njavascript:alert(1)\n', 0, 'http://o/m.m3u8').ok,
    ).toBe(true);
  });
});
