/**
 * Exit codes of the operator commands, so a pre-event script can act on them:
 * 0 go, 1 warn, 2 no-go, 3 could not run (controller unreachable, refused, auth), 64 usage (EX_USAGE),
 * 78 configuration (EX_CONFIG).
 */
export const EXIT = { go: 0, warn: 1, noGo: 2, couldNotRun: 3, usage: 64, config: 78 } as const;

/** An error that ends the command with a given exit code and a one-line message (no stack trace). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}
