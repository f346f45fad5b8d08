import type { KV } from '@nats-io/kv';
import type { Logger } from '../../shared/log.js';
import { Target } from '../../shared/schemas.js';
import { KvCollection } from './kvcollection.js';

/** Targets (stream URL, protocol, labels, expectations), persisted in KV. */
export class TargetStore extends KvCollection<typeof Target> {
  constructor(kv: KV, logger: Logger) {
    super(kv, Target, logger);
  }
}
