/**
 * Typed seams over the two untyped CommonJS parsers. Everything they return is treated as `unknown`-ish
 * data from the network: callers validate every field they read (see hls/parse.ts, dash/parse.ts).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface M3u8ParserInstance {
  on(event: 'warn' | 'info', fn: (e: { message?: string }) => void): void;
  push(chunk: string): void;
  end(): void;
  manifest: Record<string, unknown>;
}

interface M3u8Module {
  Parser: new (opts?: { url?: string }) => M3u8ParserInstance;
}

/** The xmldom element mpd-parser hands back; only what we touch. */
export interface XmlElement {
  tagName: string;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  getElementsByTagName(name: string): ArrayLike<XmlElement>;
  textContent?: string | null;
  /** The enclosing element (xmldom); null at the root. */
  parentNode?: XmlElement | null;
}

interface MpdModule {
  stringToMpdXml(text: string): XmlElement;
  inheritAttributes(
    mpd: XmlElement,
    opts: { manifestUri: string; NOW: number; clientOffset: number; eventHandler?: (e: unknown) => void },
  ): {
    locations?: unknown;
    contentSteeringInfo?: unknown;
    representationInfo: unknown[];
    eventStream?: unknown;
  };
  toPlaylists(info: unknown[]): unknown[];
  toM3u8(args: {
    dashPlaylists: unknown[];
    locations?: unknown;
    contentSteering?: unknown;
    eventStream?: unknown;
  }): Record<string, unknown>;
}

export const m3u8: M3u8Module = require('m3u8-parser') as M3u8Module;
export const mpd: MpdModule = require('mpd-parser') as MpdModule;

interface XmlDocument {
  documentElement: XmlElement | null;
}
type DomParserCtor = new (opts: {
  errorHandler: { warning(m: string): void; error(m: string): void; fatalError(m: string): void };
}) => { parseFromString(text: string, type: string): XmlDocument };

/** The xmldom mpd-parser itself depends on (resolved from mpd-parser, so it is the same copy). */
const DomParser: DomParserCtor | undefined = (() => {
  try {
    const fromMpd = createRequire(require.resolve('mpd-parser'));
    return (fromMpd('@xmldom/xmldom') as { DOMParser: DomParserCtor }).DOMParser;
  } catch {
    return undefined;
  }
})();

/**
 * mpd-parser's stringToMpdXml, minus its console noise: xmldom's default error handler writes every
 * malformed MPD to the console, which an agent parsing untrusted MPDs all day must not do. Errors are
 * collected and returned instead. Throws (like stringToMpdXml) when there is no MPD root.
 */
export function parseMpdXml(text: string): { root: XmlElement; errors: string[] } {
  if (!DomParser) return { root: mpd.stringToMpdXml(text), errors: [] };
  if (text === '') throw new Error('empty MPD');
  const errors: string[] = [];
  let fatal: string | undefined;
  const keep = (m: string) => {
    if (errors.length < 5) errors.push(String(m).slice(0, 200));
  };
  const parser = new DomParser({
    errorHandler: {
      warning: () => {},
      error: keep,
      fatalError: (m) => {
        fatal = String(m).slice(0, 200);
      },
    },
  });
  let doc: XmlDocument | undefined;
  try {
    doc = parser.parseFromString(text, 'application/xml');
  } catch (err) {
    throw new Error(`invalid XML: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
  }
  const root = doc?.documentElement;
  if (fatal) throw new Error(`invalid XML: ${fatal}`);
  if (root?.tagName !== 'MPD' || root.getElementsByTagName('parsererror').length > 0) {
    throw new Error('invalid XML: no MPD root element');
  }
  return { root, errors };
}
