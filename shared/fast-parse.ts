import { Ajv } from 'ajv';
import { z } from 'zod';
import { Report } from './schemas.js';

export type ParseResult<T> = { success: true; data: T } | { success: false; error: z.ZodError };

/**
 * The same zod schema, validated on the hot path by a compiled validator. Ingest validates every report
 * the fleet sends (tens of thousands a second); zod's interpreter cost ~15 µs for a typical report where a
 * validator compiled (ajv) from the schema's own JSON Schema costs ~4 µs. The zod schema stays the one
 * definition: the JSON Schema is generated from it at start-up, and anything the compiled validator
 * rejects goes through zod, so errors keep zod's field-level issues and a validator stricter than zod
 * never loses a message. What makes the fast path safe is the other direction: what it accepts, zod accepts
 * with the same output (defaults filled, unknown keys stripped) — shared/fast-parse.test.ts checks that on
 * a mutation corpus.
 *
 * The input object is modified in place (defaults added, unknown keys removed): pass a freshly decoded
 * message, not an object someone else holds.
 */
export interface FastParser<T> {
  (input: unknown): ParseResult<T>;
  /** Messages the compiled validator accepted, and those handed to zod (rejected, or stricter than zod). */
  readonly stats: { fast: number; fallback: number };
}

export function fastParser<S extends z.ZodType>(schema: S): FastParser<z.output<S>> {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'throw' });
  // removeAdditional 'all' would empty a record (z.record: an object of additionalProperties only), so a
  // schema with one is refused here rather than silently stripped.
  if (/"(additionalProperties":(\{|true)|patternProperties")/.test(JSON.stringify(json))) {
    throw new Error('fastParser: schemas with records (z.record) are not supported; use zod directly');
  }
  const ajv = new Ajv({
    useDefaults: true,
    // zod objects strip unknown keys; removeAdditional 'all' does the same for every object in the schema.
    removeAdditional: 'all',
    strictNumbers: true,
    allErrors: false,
    strict: false,
    // Formats: date-time strings also carry zod's own regex as a pattern, so the format adds nothing;
    // 'uri' is checked as zod's http(s) URL check would, and more strictly than zod's plain z.url() (a
    // stricter check only means a fallback to zod).
    formats: { 'date-time': true, uri: isHttpUrl },
  });
  const validate = ajv.compile(json);
  const stats = { fast: 0, fallback: 0 };
  const parse = (input: unknown): ParseResult<z.output<S>> => {
    if (validate(input)) {
      stats.fast++;
      return { success: true, data: input as z.output<S> };
    }
    stats.fallback++;
    return schema.safeParse(input) as ParseResult<z.output<S>>;
  };
  return Object.assign(parse, { stats });
}

/** URLs already found valid: a fleet's reports name the same few thousand targets over and over. */
const validUrls = new Set<string>();

function isHttpUrl(s: string): boolean {
  if (validUrls.has(s)) return true;
  if (!checkHttpUrl(s)) return false;
  if (validUrls.size >= 10_000) validUrls.clear();
  validUrls.add(s);
  return true;
}

function checkHttpUrl(s: string): boolean {
  // zod trims before it checks (and outputs the trimmed string): refuse any whitespace so both agree.
  if (!/^https?:\/\/[^/?#]/i.test(s) || /\s/.test(s)) return false;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** Reports, the one message the controller receives by the ten thousand (ingest, replay, alert feed). */
export const parseReport = fastParser(Report);
