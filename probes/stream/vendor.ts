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
