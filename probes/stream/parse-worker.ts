/**
 * Worker thread of the parse pool (parse-pool.ts): parses one large playlist or MPD per message, off the
 * agent's event loop, and posts back plain data.
 */
import { parentPort } from 'node:worker_threads';
import { parseMpd } from './dash/parse.js';
import { looksLikeMaster, parseMaster, parseMedia } from './hls/parse.js';
import type { Parsed, ParseRequest } from './parse-pool.js';

parentPort?.on('message', (req: ParseRequest) => {
  let out: Parsed;
  try {
    if (req.kind === 'mpd') out = { mpd: parseMpd(req.text, req.fetchedAt, req.url, req.clockOffset) };
    else if (looksLikeMaster(req.text)) out = { master: parseMaster(req.text, req.fetchedAt, req.url) };
    else out = { media: parseMedia(req.text, req.fetchedAt) };
  } catch (err) {
    out = { error: String((err as Error)?.message ?? err).slice(0, 300) };
  }
  parentPort?.postMessage({ id: req.id, out });
});
