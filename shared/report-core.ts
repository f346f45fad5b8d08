import { z } from 'zod';
import { fastParser, type ParseResult } from './fast-parse.js';
import { MAX_SEGMENTS_IN_REPORT, Report, SegmentTiming } from './schemas.js';

/**
 * A report without its per-segment rows: everything ingest aggregates, alerts on and counts. The rows
 * (up to MAX_SEGMENTS_IN_REPORT request timings, half a typical report's bytes) are read by the live feed
 * and the results API only; their figures reach the windows through `metrics` and `sketches`.
 */
export const ReportCore = Report.omit({ segments: true });
export type ReportCore = z.infer<typeof ReportCore>;

const parseCore = fastParser(ReportCore);
const parseSegmentRows = fastParser(z.array(SegmentTiming).max(MAX_SEGMENTS_IN_REPORT));
const dec = new TextDecoder();

/** A report decoded for ingest: its core validated, its segment rows kept as text until someone asks. */
export interface DecodedReport {
  parsed: ParseResult<ReportCore>;
  /**
   * The report's `"segments"` array as it came (JSON), when it had one: its UTF-8 bytes (a view of the
   * message) when the rows came last, as agents send them, so they are decoded only if someone reads them.
   */
  segments: Rows;
}

/** A report's segment rows as they came: JSON text, its UTF-8 bytes, or none. */
export type Rows = string | Uint8Array | undefined;

/**
 * Decodes a report on the wire without its segment rows, which ingest never reads: leaving them out of
 * JSON.parse and the validator gave bench:ingest's steady scenario +10 % reports per CPU-second
 * (docs/benchmarks.md). The rows are cut out of the text before JSON.parse: as the rest of the text when
 * they are its last member (the agents' order), else as one bracket-balanced array; anything else (no such
 * key, rows of another shape) is parsed whole, the rows set aside as text. Rows are checked when read
 * (withSegments): a report whose rows are malformed, even not JSON (inside a balanced array, or anything
 * as the last member), is still ingested by its core. Throws a SyntaxError on text that is not JSON
 * otherwise, like JSON.parse.
 */
export function decodeReportCore(data: Uint8Array): DecodedReport {
  const last = rowsLast(data);
  if (last) return last;
  const text = dec.decode(data);
  const cut = segmentsSpan(text);
  if (!cut) {
    const whole: unknown = JSON.parse(text);
    // Rows of another shape (not an array, spaced out): kept for withSegments to refuse or accept.
    const rows =
      whole !== null && typeof whole === 'object' && Object.hasOwn(whole, 'segments')
        ? JSON.stringify((whole as { segments: unknown }).segments)
        : undefined;
    return { parsed: parseCore(whole), segments: rows };
  }
  const [keyAt, open, close] = cut;
  // `,"segments":[...]` or `{"segments":[...],`: the comma goes with it, so the rest stays one object.
  const rest =
    text.charCodeAt(keyAt - 1) === COMMA
      ? text.slice(0, keyAt - 1) + text.slice(close + 1)
      : text.slice(0, keyAt) + text.slice(text.charCodeAt(close + 1) === COMMA ? close + 2 : close + 1);
  return { parsed: parseCore(JSON.parse(rest)), segments: text.slice(open, close + 1) };
}

/**
 * A report in the agents' own order (shared/schemas.ts puts the rows last): `{...,"segments":[...]}`. The
 * core is the bytes before the key, closed, and only they are decoded into a string; the rows stay bytes,
 * read only when someone asks (withSegments). The first `,"segments":[` is taken: a JSON string cannot
 * hold one unescaped, and one in a nested object would leave the core unbalanced, so JSON.parse refuses
 * it. Undefined when the message is not of this form or its core is not JSON: the general path then
 * decides. The 2.7 kB message is never a string: less to decode and to allocate, and no scan of the rows
 * (with the other changes of that stop, bench:ingest +8-21 %, docs/benchmarks.md).
 */
function rowsLast(data: Uint8Array): DecodedReport | undefined {
  const n = data.length;
  if (n < KEY_BYTES.length + 2 || data[n - 1] !== 125 || data[n - 2] !== 93) return undefined;
  const comma = Buffer.prototype.indexOf.call(data, KEY_BYTES) as number;
  if (comma <= 0) return undefined;
  // The core and its closing brace, copied into scratch: one string decoded, no concatenation to flatten.
  if (scratch.length < comma + 1) scratch = Buffer.allocUnsafe(Math.max(comma + 1, scratch.length * 2));
  scratch.set(data.subarray(0, comma));
  scratch[comma] = 125;
  let core: unknown;
  try {
    core = JSON.parse(dec.decode(scratch.subarray(0, comma + 1)));
  } catch {
    return undefined;
  }
  return { parsed: parseCore(core), segments: data.subarray(comma + KEY_BYTES.length - 1, n - 1) };
}

const KEY_BYTES = Buffer.from(',"segments":[');
/** Reused for every report's core (decoding is synchronous): grows to the largest core seen. */
let scratch = Buffer.allocUnsafe(4096);

/**
 * The whole report from a decoded core and its rows, validated as the full schema would: undefined when
 * the rows are malformed (the core stands; only readers of the rows lose this report's).
 */
export function withSegments(core: ReportCore, segments: Rows): Report | undefined {
  if (segments === undefined) return { ...core, segments: [] };
  let rows: unknown;
  try {
    rows = JSON.parse(typeof segments === 'string' ? segments : dec.decode(segments));
  } catch {
    return undefined;
  }
  const parsed = parseSegmentRows(rows);
  return parsed.success ? { ...core, segments: parsed.data } : undefined;
}

const KEY = '"segments":[';
const COMMA = 44;
const QUOTE = 34;
const BACKSLASH = 92;

/** A JSON string: quotes, then anything but a quote or a backslash, or an escape (the unrolled form). */
const STRING = String.raw`"[^"\\]*(?:\\.[^"\\]*)*"`;
/** Between strings inside a row: anything but a quote or a bracket (numbers, booleans, `,`, `:`, spaces). */
const PLAIN = String.raw`[^"{}\[\]]*`;
const ROW = String.raw`\{${PLAIN}(?:${STRING}${PLAIN})*\}`;
/**
 * The rows as the schema has them, flat objects in an array, ending a member (`,` or `}` next). Matched by
 * the regular-expression engine, where the character loop below took ~1.7x as long (bench:ingest); every
 * part is deterministic (no two ways to match a character), so a hostile text costs linear time. Rows of
 * any other shape (nested, malformed) take the loop.
 */
const FLAT_ROWS = new RegExp(String.raw`\[(?:${ROW}(?:,${ROW})*)?\](?=[,}])`, 'y');

/**
 * Where the top-level `"segments":[...]` is: [key start, `[`, matching `]`], or undefined. The key is
 * taken at face value where a `,` or `{` comes before it: JSON strings escape their quotes, so `"segments":`
 * inside one cannot end in `":`; a nested object's `segments` key (no schema has one) would only be cut
 * out of an object the validator strips anyway.
 */
function segmentsSpan(text: string): [number, number, number] | undefined {
  const keyAt = text.indexOf(KEY);
  if (keyAt <= 0) return undefined;
  const before = text.charCodeAt(keyAt - 1);
  if (before !== COMMA && before !== 123) return undefined;
  const open = keyAt + KEY.length - 1;
  FLAT_ROWS.lastIndex = open;
  if (FLAT_ROWS.test(text)) return [keyAt, open, FLAT_ROWS.lastIndex - 1];
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // To the closing quote: one preceded by an even number of backslashes.
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q < 0) return undefined;
        let b = q - 1;
        while (text.charCodeAt(b) === BACKSLASH) b--;
        i = q;
        if ((q - 1 - b) % 2 === 0) break;
      }
    } else if (c === 91 || c === 123) depth++;
    else if (c === 93 || c === 125) {
      if (--depth > 0) continue;
      // The array must end its member as it began one: followed by `,` or the object's `}`.
      const after = text.charCodeAt(i + 1);
      return c === 93 && (after === COMMA || after === 125) ? [keyAt, open, i] : undefined;
    }
  }
  return undefined;
}
