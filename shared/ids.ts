import { z } from 'zod';

/**
 * Ids that end up inside NATS subjects (region, target, agent) must be a single subject token:
 * no dots, wildcards or whitespace. One rule for all of them.
 */
export const SubjectToken = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
    'use 1-63 letters, digits, "-" or "_" (it becomes a NATS subject token)',
  );

export const IsoTime = z.iso.datetime({ offset: true });
