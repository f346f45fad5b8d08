import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { type ApiHandler, sendJson } from '../origin.js';
import { type FaultEngine, FaultValidationError } from './engine.js';
import { FAULT_TYPES, FAULTS } from './registry.js';

const MAX_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new FaultValidationError([{ path: '', message: `body larger than ${MAX_BODY} bytes` }]);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new FaultValidationError([{ path: '', message: 'body is not valid JSON' }]);
  }
}

/** What GET /faults/types returns: each type, where it applies and its parameters as JSON Schema. */
export function faultTypeCatalogue(): unknown[] {
  return FAULT_TYPES.map((t) => {
    const m = FAULTS[t];
    let params: unknown;
    try {
      params = z.toJSONSchema(m.params as z.ZodType, { io: 'input', unrepresentable: 'any' });
    } catch {
      params = undefined;
    }
    return { type: t, description: m.description, protocols: m.protocols, rendition: m.rendition, params };
  });
}

/**
 * The runtime fault API:
 *   POST /faults {stream, rendition?, type, ...params, durationS?} -> 201 {id, ...}
 *   GET /faults, GET /faults/:id, DELETE /faults/:id, DELETE /faults (all)
 *   GET /faults/log[?since=<epoch ms | ISO>] (truth log), GET /faults/types
 */
export function faultApi(engine: FaultEngine, extra?: (url: URL) => unknown | undefined): ApiHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const method = req.method ?? 'GET';
    if (url.pathname === '/scenario' && extra) {
      const body = extra(url);
      if (body === undefined) sendJson(res, 404, { error: 'no scenario loaded' });
      else sendJson(res, 200, body);
      return true;
    }
    if (url.pathname !== '/faults' && !url.pathname.startsWith('/faults/')) return false;
    const rest = url.pathname.slice('/faults'.length).replace(/^\//, '');
    try {
      if (rest === '') {
        if (method === 'GET' || method === 'HEAD') sendJson(res, 200, engine.list());
        else if (method === 'POST') sendJson(res, 201, engine.inject(await readJson(req), 'api'));
        else if (method === 'DELETE') sendJson(res, 200, { removed: engine.clear('api') });
        else sendJson(res, 405, { error: 'use GET, POST or DELETE' });
        return true;
      }
      if (rest === 'log' && (method === 'GET' || method === 'HEAD')) {
        const raw = url.searchParams.get('since');
        const since = raw === null ? 0 : /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
        if (!Number.isFinite(since)) {
          sendJson(res, 400, { error: 'since must be epoch ms or an ISO 8601 time' });
          return true;
        }
        sendJson(res, 200, engine.truthLog(since));
        return true;
      }
      if (rest === 'types' && (method === 'GET' || method === 'HEAD')) {
        sendJson(res, 200, faultTypeCatalogue());
        return true;
      }
      if (/^[A-Za-z0-9_-]+$/.test(rest)) {
        if (method === 'GET' || method === 'HEAD') {
          const f = engine.get(rest);
          if (f) sendJson(res, 200, f);
          else sendJson(res, 404, { error: `no active fault ${rest}` });
        } else if (method === 'DELETE') {
          const f = engine.remove(rest, 'api');
          if (f) sendJson(res, 200, { removed: f });
          else sendJson(res, 404, { error: `no active fault ${rest}` });
        } else sendJson(res, 405, { error: 'use GET or DELETE' });
        return true;
      }
      sendJson(res, 404, { error: 'not found' });
      return true;
    } catch (err) {
      if (err instanceof FaultValidationError) {
        sendJson(res, 400, { error: `invalid fault: ${err.message}`, issues: err.issues });
        return true;
      }
      throw err;
    }
  };
}
