/**
 * Worker thread of the parse pool (parse-pool.ts): decodes and parses one large playlist or MPD per message,
 * off the agent's event loop, and posts back plain data without the document's text (the caller has the
 * bytes; cloning a 4 MiB string back would cost its loop what the worker saved).
 */
import { parentPort } from 'node:worker_threads';
import { parseMpd } from './dash/parse.js';
import { looksLikeMaster, parseMaster, parseMedia } from './hls/parse.js';
import type { Parsed, ParseRequest } from './parse-pool.js';

// ignoreBOM keeps a BOM in the text, as Buffer#toString does on the inline path (the parser tolerates it).
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

parentPort?.on('message', (req: ParseRequest) => {
  let out: Parsed;
  try {
    const text = decoder.decode(req.bytes);
    if (req.kind === 'mpd') out = { mpd: parseMpd(text, req.fetchedAt, req.url, req.clockOffset) };
    else if (looksLikeMaster(text))
      out = { master: parseMaster(text, req.fetchedAt, req.url), isMaster: true };
    else out = { media: parseMedia(text, req.fetchedAt), isMaster: false };
    for (const r of [out.mpd, out.master, out.media]) if (r?.ok) r.value.text = '';
  } catch (err) {
    out = { error: String((err as Error)?.message ?? err).slice(0, 300) };
  }
  parentPort?.postMessage({ id: req.id, out });
});
