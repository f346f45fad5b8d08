import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from '../shared/log.js';
import { type FaultEngine, FaultValidationError } from './faults/engine.js';

/** "90", 90, "90s", "1500ms", "2m", "1m30s" -> seconds. */
export function parseDurationS(v: number | string): number {
  if (typeof v === 'number') return v;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
    matched = re.lastIndex;
  }
  if (matched !== s.length || s.length === 0)
    throw new Error(`"${v}" is not a duration (e.g. 90, "90s", "1m30s", "500ms")`);
  return total;
}

const Duration = z.union([z.number().min(0), z.string()]).transform((v, ctx) => {
  try {
    return parseDurationS(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const Step = z
  .object({
    /** Seconds after the scenario starts (number, or "90s", "1m30s"). */
    at: Duration,
    /** Name for this step's fault, so a later step can remove it. */
    label: z.string().min(1).optional(),
    inject: z.record(z.string(), z.unknown()).optional(),
    remove: z.string().min(1).optional(),
    clear: z.literal(true).optional(),
  })
  .strict()
  .refine((s) => [s.inject, s.remove, s.clear].filter((x) => x !== undefined).length === 1, {
    message: 'each step needs exactly one of inject, remove (a label) or clear: true',
  });

export const ScenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** Testbed settings this scenario expects (explicit startTestbed/CLI options win). */
    testbed: z
      .object({
        segmentS: z.number().int().min(1).max(6).optional(),
        windowSize: z.number().int().min(3).max(30).optional(),
        ladder: z.enum(['full', 'single']).optional(),
      })
      .strict()
      .optional(),
    /** Restart the timeline every this many seconds (all its faults are cleared first). */
    repeatEvery: Duration.optional(),
    steps: z.array(Step).min(1),
  })
  .strict()
  .superRefine((s, ctx) => {
    const labels = new Set<string>();
    s.steps.forEach((st, i) => {
      if (st.label) {
        if (labels.has(st.label))
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'label'],
            message: `duplicate label ${st.label}`,
          });
        labels.add(st.label);
      }
      if (st.remove && !labels.has(st.remove))
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'remove'],
          message: `no earlier step labelled ${st.remove}`,
        });
      if (s.repeatEvery !== undefined && st.at >= s.repeatEvery)
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'at'],
          message: 'step is at or after repeatEvery',
        });
    });
  });

export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/** Parses and validates a scenario (YAML text or an object); errors name the offending step. */
export function parseScenario(input: string | unknown, origin = 'scenario'): Scenario {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = parseYaml(input);
    } catch (err) {
      throw new Error(`${origin}: not valid YAML: ${(err as Error).message}`);
    }
  }
  const r = ScenarioSchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `${origin}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return { ...r.data, steps: [...r.data.steps].sort((a, b) => a.at - b.at) };
}

export function loadScenarioFile(file: string): Scenario {
  return parseScenario(readFileSync(file, 'utf8'), file);
}

/** Checks every inject step against the testbed's streams and fault types before anything starts. */
export function validateScenarioFaults(s: Scenario, engine: FaultEngine): void {
  s.steps.forEach((st, i) => {
    if (!st.inject) return;
    try {
      engine.validate(st.inject);
    } catch (err) {
      if (err instanceof FaultValidationError)
        throw new Error(`scenario ${s.name}: steps.${i}.inject: ${err.message}`);
      throw err;
    }
  });
}

export interface ScenarioStatus {
  name: string;
  description?: string;
  startedAt: string;
  cycle: number;
  steps: { at: number; label?: string; action: string; firedAt?: string; faultId?: string; error?: string }[];
}

export interface ScenarioRun {
  status(): ScenarioStatus;
  stop(): void;
}

/** Plays the timeline against the fault engine (truth-log source "scenario:<name>"). */
export function runScenario(s: Scenario, engine: FaultEngine, logger: Logger): ScenarioRun {
  const startedAt = Date.now();
  const timers = new Set<NodeJS.Timeout>();
  let cycle = 0;
  const labels = new Map<string, string>();
  const mine = new Set<string>();
  const steps: ScenarioStatus['steps'] = s.steps.map((st) => ({
    at: st.at,
    ...(st.label ? { label: st.label } : {}),
    action: st.inject ? `inject ${String(st.inject.type)}` : st.remove ? `remove ${st.remove}` : 'clear',
  }));
  const fire = (i: number) => {
    const st = s.steps[i]!;
    const out = steps[i]!;
    out.firedAt = new Date().toISOString();
    try {
      if (st.inject) {
        const f = engine.inject(st.inject, `scenario:${s.name}`);
        out.faultId = f.id;
        mine.add(f.id);
        if (st.label) labels.set(st.label, f.id);
      } else if (st.remove) {
        const id = labels.get(st.remove);
        if (id) engine.remove(id, 'scenario');
      } else {
        for (const id of mine) engine.remove(id, 'scenario');
        mine.clear();
      }
    } catch (err) {
      out.error = (err as Error).message;
      logger.warn({ scenario: s.name, step: i, err: out.error }, 'scenario step failed');
    }
  };
  const schedule = (base: number) => {
    s.steps.forEach((st, i) => {
      const t = setTimeout(
        () => {
          timers.delete(t);
          fire(i);
        },
        Math.max(0, base + st.at * 1000 - Date.now()),
      );
      timers.add(t);
    });
    if (s.repeatEvery !== undefined) {
      const next = base + s.repeatEvery * 1000;
      const t = setTimeout(() => {
        timers.delete(t);
        for (const id of mine) engine.remove(id, 'scenario');
        mine.clear();
        cycle++;
        schedule(next);
      }, next - Date.now());
      timers.add(t);
    }
  };
  schedule(startedAt);
  logger.info({ scenario: s.name, steps: s.steps.length }, 'scenario started');
  return {
    status: () => ({
      name: s.name,
      ...(s.description ? { description: s.description } : {}),
      startedAt: new Date(startedAt).toISOString(),
      cycle,
      steps,
    }),
    stop: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
