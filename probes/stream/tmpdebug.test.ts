import { it } from 'vitest';
import { StreamProber } from './index.js';
import { startSyntheticOrigin } from './testing/origin.js';

it('debug', async () => {
  const now = Date.now();
  const o = await startSyntheticOrigin({
    streams: Array.from({ length: 10 }, (_, i) => ({
      id: `s${i}`,
      renditions: ['a', 'b', 'c', 'd'],
      audio: true,
      td: 2,
      t0: now - 14000 - Math.random() * 2000,
    })),
  });
  const p = new StreamProber({ segmentFetch: 'none' });
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      p.run(
        {
          target: { id: `t${i}`, url: o.masterUrl(`s${i}`), protocol: 'hls' },
          mode: 'check',
          durationS: 50,
          expectations: {},
        },
        { signal: new AbortController().signal, logger: undefined as never },
      ),
    ),
  );
  console.log(p.stats());
  await p.close();
  await o.close();
}, 90000);
