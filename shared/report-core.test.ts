import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { realisticReport } from '../bench/report-fixture.js';
import { parseReport } from './fast-parse.js';
import { decodeReportCore, type Rows, withSegments } from './report-core.js';
import { Report } from './schemas.js';
import { browserReport, mutatedReports, streamReport } from './testing/report-mutations.js';

const bytes = (s: string) => new TextEncoder().encode(s);
/** Rows as text, however they were handed on (sent last, they stay bytes). */
const rowsText = (rows: Rows) => (rows instanceof Uint8Array ? new TextDecoder().decode(rows) : rows);
const withoutSegments = <T extends { segments?: unknown }>(r: T) => {
  const { segments: _, ...core } = r;
  return core;
};

/** What the whole-report parser makes of `text`, against the core decoder and the rows put back. */
function agree(text: string) {
  const whole = parseReport(JSON.parse(text));
  const d = decodeReportCore(bytes(text));
  return { whole, d, back: d.parsed.success ? withSegments(d.parsed.data, d.segments) : undefined };
}

describe('decodeReportCore', () => {
  it('decodes a report as the whole-report parser does, minus its rows, and puts the rows back', () => {
    for (const r of [realisticReport(7, 10), browserReport, streamReport]) {
      const { whole, d, back } = agree(JSON.stringify(r));
      expect(whole.success).toBe(true);
      expect(d.parsed.success).toBe(true);
      if (!whole.success || !d.parsed.success) continue;
      expect(d.parsed.data).not.toHaveProperty('segments');
      expect(d.parsed.data).toStrictEqual(withoutSegments(whole.data));
      expect(back).toStrictEqual(whole.data);
    }
  });

  it('finds the rows wherever the key is, and strings that look like JSON do not fool it', () => {
    const rows = [
      { at: 1, url: 'https://cdn/a/"segments":[1]/x.ts?q=]}', bytes: 1, ttfb_ms: 1, download_ms: 2 },
      { at: 2, url: 'https://cdn/b\\"]\\\\', rendition: '{[', bytes: 1, ttfb_ms: 1, download_ms: 2 },
    ];
    const { segments: _, ...rest } = realisticReport(3, 10);
    const orders = [
      { segments: rows, ...rest },
      { ...rest, segments: rows },
      { id: rest.id, segments: rows, ...rest },
      { ...rest, segments: [] },
      rest,
      // A row with a nested member (stripped by the schema): not the flat rows the fast match takes.
      { ...rest, segments: [{ ...rows[0], extra: { deep: [1, { x: ']' }] } }, rows[1]] },
    ];
    for (const r of orders) {
      const text = JSON.stringify(r);
      const { whole, d, back } = agree(text);
      expect(whole.success, text.slice(0, 80)).toBe(true);
      if (!whole.success || !d.parsed.success) throw new Error(`not decoded: ${text.slice(0, 80)}`);
      expect(d.parsed.data).toStrictEqual(withoutSegments(whole.data));
      expect(back).toStrictEqual(whole.data);
    }
  });

  it('keeps the core of a report whose rows are malformed; only the whole report is refused', () => {
    const r = { ...realisticReport(3, 10), segments: [{ at: 'soon', url: 5 }] };
    const { whole, d, back } = agree(JSON.stringify(r));
    expect(whole.success).toBe(false);
    expect(d.parsed.success).toBe(true);
    expect(back).toBeUndefined();
    // Rows that are not even JSON, in a balanced array: the core stands, the rows are refused when read.
    const text = JSON.stringify(realisticReport(3, 10)).replace('"segments":[', '"segments":[1 2,');
    const broken = decodeReportCore(bytes(text));
    expect(broken.parsed.success).toBe(true);
    expect(
      withSegments(broken.parsed.success ? broken.parsed.data : (undefined as never), broken.segments),
    ).toBeUndefined();
  });

  it('throws on text that is not JSON, with the rows cut or not', () => {
    const { segments, ...rest } = realisticReport(3, 10);
    const text = JSON.stringify({ segments, ...rest });
    expect(() => decodeReportCore(bytes(text.slice(0, -1)))).toThrow(SyntaxError);
    expect(() => decodeReportCore(bytes(text.replace('"segments":[', '"segments":[[')))).toThrow(SyntaxError);
    expect(() => decodeReportCore(bytes('{"segments":[] "id":1}'))).toThrow(SyntaxError);
    // Rows last, the core broken: the general path decides, and refuses it.
    const last = JSON.stringify({ ...rest, segments });
    expect(() => decodeReportCore(bytes(last.replace('"id":', '"id"')))).toThrow(SyntaxError);
  });

  it("takes rows sent last (the agents' order) as the rest of the text, without reading them", () => {
    // What an agent sends: the report as the schema orders it (agent/publisher.ts).
    const sent = JSON.stringify(Report.parse(realisticReport(3, 10)));
    expect(sent.indexOf('"segments":[')).toBeGreaterThan(sent.indexOf('"version":'));
    const { whole, d, back } = agree(sent);
    if (!whole.success || !d.parsed.success) throw new Error('not decoded');
    expect(d.segments).toBeInstanceOf(Uint8Array);
    expect(rowsText(d.segments)).toBe(JSON.stringify(whole.data.segments));
    expect(back).toStrictEqual(whole.data);
    // Rows last that are not JSON at all (unbalanced): the core stands, the rows are refused when read.
    for (const broken of [
      sent.replace('"segments":[', '"segments":[['),
      `${sent.slice(0, sent.indexOf('"segments":[') + 12)}{"at":"]}`,
    ]) {
      const got = decodeReportCore(bytes(broken));
      expect(got.parsed.success, broken.slice(-40)).toBe(true);
      if (got.parsed.success) expect(withSegments(got.parsed.data, got.segments)).toBeUndefined();
    }
    // A "segments" key nested before the top-level one cannot pass for it: the cut core is unbalanced.
    const nested = sent.replace('"protocol":"hls"', '"protocol":"hls","segments":[{"x":1}]');
    expect(nested).not.toBe(sent);
    const n = decodeReportCore(bytes(nested));
    expect(n.parsed.success).toBe(true);
    if (n.parsed.success) expect(n.parsed.data.target).toStrictEqual(whole.data.target);
  });

  it('refuses hostile rows (unclosed strings, runs of escapes, no end) as not JSON, in linear time', () => {
    // A backtracking pattern would take minutes on these and fail the test on its timeout.
    const head = '{"id":"x","segments":[';
    for (const text of [
      `${head}{"url":"${'a\\"'.repeat(200_000)}]}`,
      `${head}${'{"a":"b","c":1},'.repeat(40_000)}{"a":"b"}`,
      `${head}{${','.repeat(500_000)}}x}`,
      `${head}{${'"",'.repeat(200_000)}"\\`,
      `${head}{"${'\\'.repeat(500_001)}"}]}`,
    ]) {
      // Ending as rows sent last do (`]}`): the core is decoded (here refused: it is only an id) and the rows
      // are refused when read; otherwise the text is not JSON.
      if (text.endsWith(']}')) {
        const d = decodeReportCore(bytes(text));
        expect(d.parsed.success, text.slice(0, 40)).toBe(false);
        expect(() => JSON.parse(rowsText(d.segments) as string)).toThrow(SyntaxError);
      } else expect(() => decodeReportCore(bytes(text)), text.slice(0, 40)).toThrow(SyntaxError);
    }
  });

  it('agrees with the whole-report parser on 10k mutated reports, rows apart', () => {
    let accepted = 0;
    let rowsOnly = 0;
    for (const [seed, input] of mutatedReports(10_000)) {
      const { whole, d, back } = agree(JSON.stringify(input));
      // Refused whole only for its rows: the core stands, the rows do not.
      const forRows =
        !whole.success && whole.error.issues.every((i) => i.path[0] === 'segments') && d.parsed.success;
      const same = whole.success
        ? d.parsed.success &&
          isDeepStrictEqual(d.parsed.data, withoutSegments(whole.data)) &&
          isDeepStrictEqual(back, whole.data)
        : forRows
          ? back === undefined
          : !d.parsed.success;
      if (!same) expect({ seed, input, whole, core: d.parsed }).toBeUndefined();
      if (whole.success) accepted++;
      if (forRows) rowsOnly++;
    }
    expect(accepted).toBeGreaterThan(1000);
    expect(rowsOnly).toBeGreaterThan(100);
  });
});
