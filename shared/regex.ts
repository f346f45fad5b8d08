/**
 * Regular expressions from API input (silence and rule matchers) run on RE2JS: linear time in the input, so
 * no pattern can stall the event loop (a backtracking engine takes exponential time on `(a|a)*b`). RE2 has no
 * backreferences or lookaround; such patterns are refused as invalid, as Alertmanager does.
 */
import { RE2JS } from 're2js';

export interface SafeRegex {
  /** Whole-string match (Alertmanager matchers are anchored). */
  test(s: string): boolean;
}

/**
 * Longest pattern accepted. RE2 matches in time linear in the input but proportional to the pattern too:
 * a label matcher needs no more than this, and a longer one would make every evaluation pay for it.
 */
export const MAX_PATTERN_LENGTH = 256;

/** Compiles an anchored matcher; throws with RE2's message when the pattern is not valid RE2 syntax. */
export function compileAnchored(pattern: string): SafeRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`pattern over ${MAX_PATTERN_LENGTH} characters`);
  const p = RE2JS.compile(pattern);
  return { test: (s) => p.matches(s) };
}

/** Undefined when valid, else why not (for schema refinements). */
export function regexError(pattern: string): string | undefined {
  try {
    compileAnchored(pattern);
    return undefined;
  } catch (err) {
    return String((err as Error).message).slice(0, 200);
  }
}
