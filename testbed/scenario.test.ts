import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log.js';
import { FaultEngine } from './faults/engine.js';
import { buildLayout } from './layout.js';
import { PlaylistStore } from './playlists.js';
import { TruthfulPublisher } from './publish.js';
import {
  parseDurationS,
  parseScenario,
  runScenario,
  type ScenarioRun,
  validateScenarioFaults,
} from './scenario.js';
import { TimelineTruth } from './truth.js';

const logger = createLogger('scenario-test', 'silent');

function engine(): FaultEngine {
  const layout = buildLayout('full');
  const truth = new TimelineTruth(60);
  return new FaultEngine({
    layout,
    store: new PlaylistStore({ root: '/nonexistent', paths: [] }),
    truth,
    publisher: new TruthfulPublisher(truth),
    segmentS: 2,
    logger,
  });
}

describe('scenarios', () => {
  let run: ScenarioRun | undefined;
  afterEach(() => run?.stop());

  it('parses durations', () => {
    expect(parseDurationS(90)).toBe(90);
    expect(parseDurationS('90')).toBe(90);
    expect(parseDurationS('1m30s')).toBe(90);
    expect(parseDurationS('1500ms')).toBe(1.5);
    expect(() => parseDurationS('soon')).toThrow(/not a duration/);
  });

  it('the example scenarios in deploy/scenarios are valid against the full ladder', () => {
    const dir = join(import.meta.dirname, '..', 'deploy', 'scenarios');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files).toEqual(expect.arrayContaining(['cdn-brownout.yaml', 'packager-stall.yaml']));
    for (const f of files) {
      const s = parseScenario(readFileSync(join(dir, f), 'utf8'), f);
      expect(() => validateScenarioFaults(s, engine())).not.toThrow();
    }
  });

  it('reports schema and fault errors with the step', () => {
    expect(() => parseScenario('name: x\nsteps: []\n')).toThrow(/steps/);
    expect(() => parseScenario('name: x\nsteps:\n  - at: 1s\n    remove: nope\n')).toThrow(
      /no earlier step labelled nope/,
    );
    expect(() => parseScenario('name: x\nsteps:\n  - at: 1s\n')).toThrow(/exactly one of inject, remove/);
    const s = parseScenario('name: x\nsteps:\n  - at: 1s\n    inject: { stream: hls-ts, type: delay }\n');
    expect(() => validateScenarioFaults(s, engine())).toThrow(/steps\.0\.inject: ms:/);
  });

  it('plays the timeline: inject, remove by label, expire, clear — all in the truth log', async () => {
    const e = engine();
    const s = parseScenario({
      name: 'quick',
      steps: [
        { at: 0, label: 'a', inject: { stream: 'hls-ts', type: 'delay', ms: 100 } },
        { at: '100ms', inject: { stream: 'dash', type: 'wrong-ast', offsetMs: 5000, durationS: 0.05 } },
        { at: '300ms', inject: { stream: 'hls-fmp4', type: 'endlist' } },
        { at: '350ms', remove: 'a' },
        { at: '450ms', clear: true },
      ],
    });
    run = runScenario(s, e, logger);
    const deadline = Date.now() + 5000;
    while (run.status().steps.some((st) => !st.firedAt) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    expect(e.list()).toEqual([]);
    const log = e.truthLog().map((l) => `${l.event} ${l.type} ${l.reason ?? ''}`.trim());
    expect(log).toEqual([
      'inject delay',
      'inject wrong-ast',
      'remove wrong-ast expired',
      'inject endlist',
      'remove delay scenario',
      'remove endlist scenario',
    ]);
    expect(e.truthLog().every((l) => l.source === 'scenario:quick')).toBe(true);
  });
});
