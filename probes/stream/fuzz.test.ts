/**
 * Robustness: >= 10,000 mutated playlists and MPDs, seeded from the corpus (ours + public fixtures), replayed
 * through the real monitors (parse -> every check -> evidence -> report). No throw escapes, no unhandled
 * rejection, every report validates against the schema. Deterministic: a seeded PRNG, no fast-check needed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProbeResult } from '../../shared/schemas.js';
import { prng } from '../../shared/testing/prng.js';
import { type ReplayStep, replayDash, replayHls } from './testing/replay.js';

const SEED = Number(process.env.STREAM_FUZZ_SEED ?? 0x5eed5);
const HLS_CASES = Number(process.env.STREAM_FUZZ_HLS ?? 3000);
const DASH_CASES = Number(process.env.STREAM_FUZZ_DASH ?? 1200);

const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'corpus');
function load(ext: string): string[] {
  const files = [
    ...readdirSync(dir).map((f) => join(dir, f)),
    ...readdirSync(join(dir, 'public')).map((f) => join(dir, 'public', f)),
  ];
  return files.filter((f) => f.endsWith(ext)).map((f) => readFileSync(f, 'utf8'));
}

const NUMBERS = [
  '0',
  '-1',
  '1',
  '2',
  '3.5',
  '6.006',
  '1e308',
  '-1e308',
  'NaN',
  'Infinity',
  '9007199254740993',
  '99999999999999999999',
  '0x10',
  '',
  ' ',
  '1,5',
  '4294967296',
  '0.0000001',
];
const DATES = [
  '2024-05-01T12:00:00.000Z',
  '2024-05-01T12:00:00+02:00',
  '1970-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z',
  '2024-13-45T99:99:99Z',
  'yesterday',
  '',
];
const STRINGS = [
  'a.ts',
  '',
  '../../../etc/passwd',
  'javascript:alert(1)',
  'http://[::1',
  '%zz',
  'x'.repeat(3000),
  '\u0000\u202e',
  'seg_1.ts?token=secret',
];
const DURATIONS = ['PT2S', 'PT0S', 'P1000Y', 'PTS', '-PT5S', 'PT0.001S', 'garbage', 'P1DT', ''];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

const TAGS: Array<(r: () => number) => string> = [
  (r) => `#EXT-X-TARGETDURATION:${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-MEDIA-SEQUENCE:${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-DISCONTINUITY-SEQUENCE:${pick(r, NUMBERS)}`,
  () => '#EXT-X-DISCONTINUITY',
  () => '#EXT-X-ENDLIST',
  () => '#EXT-X-GAP',
  (r) => `#EXTINF:${pick(r, NUMBERS)},${pick(r, STRINGS)}`,
  (r) => `#EXT-X-PROGRAM-DATE-TIME:${pick(r, DATES)}`,
  (r) => `#EXT-X-BYTERANGE:${pick(r, NUMBERS)}@${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-MAP:URI="${pick(r, STRINGS)}",BYTERANGE="${pick(r, NUMBERS)}@${pick(r, NUMBERS)}"`,
  (r) =>
    `#EXT-X-KEY:METHOD=${pick(r, ['AES-128', 'NONE', 'SAMPLE-AES', ''])},URI="${pick(r, STRINGS)}",IV=0x${pick(r, ['00', 'zz', ''])}`,
  (r) => `#EXT-X-STREAM-INF:BANDWIDTH=${pick(r, NUMBERS)},RESOLUTION=${pick(r, ['1x1', 'x', '99999x99999'])}`,
  (r) =>
    `#EXT-X-MEDIA:TYPE=${pick(r, ['AUDIO', 'SUBTITLES', 'VIDEO', 'CLOSED-CAPTIONS', 'X'])},GROUP-ID="${pick(r, STRINGS)}",NAME="${pick(r, STRINGS)}",URI="${pick(r, STRINGS)}"`,
  (r) => `#EXT-X-PART:DURATION=${pick(r, NUMBERS)},URI="${pick(r, STRINGS)}",BYTERANGE=${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${pick(r, STRINGS)}",BYTERANGE-START=${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-SKIP:SKIPPED-SEGMENTS=${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-DEFINE:NAME="${pick(r, STRINGS)}",VALUE="${pick(r, STRINGS)}"`,
  (r) => `#EXT-X-PLAYLIST-TYPE:${pick(r, ['EVENT', 'VOD', '', 'LIVE'])}`,
  (r) =>
    `#EXT-X-DATERANGE:ID="${pick(r, STRINGS)}",START-DATE="${pick(r, DATES)}",DURATION=${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-RENDITION-REPORT:URI="${pick(r, STRINGS)}",LAST-MSN=${pick(r, NUMBERS)}`,
  (r) => `#EXT-X-CUE-OUT:${pick(r, NUMBERS)}`,
  (r) => pick(r, STRINGS),
  () => '#EXTM3U',
];

function mutateLines(r: () => number, text: string, corpus: string[]): string {
  let lines = text.split('\n');
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(r() * Math.max(1, lines.length));
    switch (Math.floor(r() * 11)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(i, 0, lines[i] ?? '');
        break;
      case 2: {
        const j = Math.floor(r() * lines.length);
        [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
        break;
      }
      case 3:
        lines.splice(i, 0, pick(r, TAGS)(r));
        break;
      case 4:
        lines[i] = (lines[i] ?? '').replace(/-?\d+(\.\d+)?/, pick(r, NUMBERS));
        break;
      case 5:
        lines[i] = (lines[i] ?? '').replace(/\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?/, pick(r, DATES));
        break;
      case 6:
        lines = lines.slice(0, Math.max(0, i));
        break;
      case 7: {
        const other = pick(r, corpus).split('\n');
        const a = Math.floor(r() * other.length);
        lines.splice(i, 0, ...other.slice(a, a + 1 + Math.floor(r() * 6)));
        break;
      }
      case 8:
        lines[i] = (lines[i] ?? '').replace(/"/g, pick(r, ['', "'", '""', '\\"']));
        break;
      case 9:
        lines[i] = `${lines[i] ?? ''}${pick(r, ['\u0000', '\r', '\uFFFD', '\u{1F600}', ',,,,', '=', ':'])}`;
        break;
      default:
        // Whole-text edits: CRLF, BOM, a very long line, an empty body.
        return pick(r, [
          () => lines.join('\r\n'),
          () => `\uFEFF${lines.join('\n')}`,
          () => `${lines.join('\n')}\n${'#EXTINF:2,'.repeat(5000)}`,
          () => '',
          () => lines.join('\r'),
        ])();
    }
  }
  return lines.join('\n');
}

function mutateXml(r: () => number, text: string): string {
  let t = text;
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    switch (Math.floor(r() * 10)) {
      case 0: {
        // A numeric attribute (t, d, r, duration, timescale, startNumber, bandwidth...) to an extreme value.
        const attrs = [...t.matchAll(/ ([A-Za-z]+)="(-?[\d.]+)"/g)];
        const m = attrs.length ? pick(r, attrs) : undefined;
        if (m?.index !== undefined)
          t = `${t.slice(0, m.index)} ${m[1]}="${pick(r, NUMBERS)}"${t.slice(m.index + m[0].length)}`;
        break;
      }
      case 1:
        t = t.replace(
          /(availabilityStartTime|publishTime)="[^"]*"/,
          (_x, a: string) => `${a}="${pick(r, DATES)}"`,
        );
        break;
      case 2:
        t = t.replace(
          /(minimumUpdatePeriod|timeShiftBufferDepth|mediaPresentationDuration|maxSegmentDuration|start|duration)="P[^"]*"/,
          (_x, a: string) => `${a}="${pick(r, DURATIONS)}"`,
        );
        break;
      case 3: {
        const lines = t.split('\n');
        lines.splice(Math.floor(r() * lines.length), 1);
        t = lines.join('\n');
        break;
      }
      case 4: {
        const lines = t.split('\n');
        const i = Math.floor(r() * lines.length);
        lines.splice(i, 0, lines[i] ?? '');
        t = lines.join('\n');
        break;
      }
      case 5:
        t = t.slice(0, Math.floor(r() * t.length));
        break;
      case 6:
        t = t.replace(
          /type="(dynamic|static)"/,
          () => `type="${pick(r, ['dynamic', 'static', '', 'live'])}"`,
        );
        break;
      case 7:
        t = t.replace(
          /<S [^>]*\/>/,
          (s) => `${s}${s}<S d="${pick(r, NUMBERS)}" r="${pick(r, ['-1', '0', '5', '100000000'])}"/>`,
        );
        break;
      case 8:
        t = t.replace(
          '<MPD',
          pick(r, [
            '<!DOCTYPE MPD [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><MPD',
            '<MPD><MPD',
            '<?xml version="2.0"?><MPD',
            '<mpd:MPD',
          ]),
        );
        break;
      default:
        t = t.replace(
          /<UTCTiming[^>]*>/,
          () =>
            `<UTCTiming schemeIdUri="${pick(r, ['urn:mpeg:dash:utc:direct:2014', 'urn:mpeg:dash:utc:ntp:2014', 'x'])}" value="${pick(r, DATES)}"/>`,
        );
    }
  }
  return t;
}

let unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

function valid(r: ProbeResult, label: string): void {
  const p = ProbeResult.safeParse(r);
  if (!p.success) throw new Error(`${label}: ${p.error.message.slice(0, 500)}`);
}

describe('fuzz (deterministic seed)', () => {
  it(`replays ${HLS_CASES} HLS and ${DASH_CASES} DASH mutation sequences without a throw`, async () => {
    const r = prng(SEED);
    const m3u8 = load('.m3u8');
    const mpds = load('.mpd');
    expect(m3u8.length).toBeGreaterThan(20);
    expect(mpds.length).toBeGreaterThan(8);
    let documents = 0;
    let findings = 0;
    const outcomes = new Map<string, number>();
    for (let i = 0; i < HLS_CASES; i++) {
      const seed = pick(r, m3u8);
      const steps: ReplayStep[] = [];
      // A master (when the seed is one) then reloads of media playlists: an original then mutations.
      steps.push({ body: r() < 0.8 ? mutateLines(r, seed, m3u8) : seed });
      const media = seed.includes('#EXT-X-STREAM-INF')
        ? pick(
            r,
            m3u8.filter((x) => x.includes('#EXTINF')),
          )
        : seed;
      const reloads = 1 + Math.floor(r() * 3);
      for (let k = 0; k < reloads; k++) {
        steps.push({
          body: r() < 0.25 ? media : mutateLines(r, media, m3u8),
          rendition: Math.floor(r() * 4),
          headers: r() < 0.2 ? { 'last-modified': pick(r, DATES), date: pick(r, DATES) } : {},
        });
      }
      documents += steps.length;
      const res = await replayHls(steps);
      valid(res, `hls case ${i}`);
      findings += res.findings.length;
      outcomes.set(res.outcome, (outcomes.get(res.outcome) ?? 0) + 1);
    }
    for (let i = 0; i < DASH_CASES; i++) {
      const seed = pick(r, mpds);
      const steps: ReplayStep[] = [];
      const reloads = 1 + Math.floor(r() * 2);
      for (let k = 0; k <= reloads; k++) steps.push({ body: r() < 0.15 ? seed : mutateXml(r, seed) });
      documents += steps.length;
      if (process.env.STREAM_FUZZ_TRACE) {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(process.env.STREAM_FUZZ_TRACE, JSON.stringify({ i, steps }));
      }
      const res = await replayDash(steps);
      valid(res, `dash case ${i}`);
      findings += res.findings.length;
      outcomes.set(res.outcome, (outcomes.get(res.outcome) ?? 0) + 1);
    }
    // Let any stray promise settle before judging.
    await new Promise((res) => setTimeout(res, 50));
    expect(unhandled).toEqual([]);
    expect(documents).toBeGreaterThanOrEqual(10_000);
    // The mutations must actually reach the checks, not just bounce off the parser.
    expect(findings).toBeGreaterThan(1000);
    console.log(
      `fuzz: ${documents} documents, ${findings} findings, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
    unhandled = [];
  }, 120_000);
});
