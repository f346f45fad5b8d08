/**
 * Reads a fixed list of numeric fields of an object into a Float64Array (NaN where a field is absent).
 *
 * Why generated: ingest reads the same ~16 metrics of every report. A loop `m[names[i]]` is a keyed load
 * with a different key each time, which V8 serves from its megamorphic cache; the same reads written out as
 * `m.startup_ms` are named loads with their own inline caches, several times cheaper (part of the
 * bench:ingest gain in docs/benchmarks.md). The names are compile-time constants checked below, never input.
 */
export type FieldReader = (obj: object, into: Float64Array) => void;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function fieldReader(names: readonly string[]): FieldReader {
  for (const n of names) if (!IDENTIFIER.test(n)) throw new Error(`fieldReader: not an identifier: ${n}`);
  const body = names.map((n, i) => `v = o.${n}; into[${i}] = typeof v === 'number' ? v : NaN;`).join('\n');
  return new Function('o', 'into', `let v;\n${body}`) as FieldReader;
}
