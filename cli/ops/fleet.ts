import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';
import { Rule, SilenceRequest, type SilenceView } from '../../controller/alerting/schema.js';
import { Schedule, Watch } from '../../shared/api.js';
import { Target } from '../../shared/schemas.js';
import type { ApiClient } from './client.js';
import { CliError, EXIT } from './exit.js';

/**
 * The fleet as code: one YAML file (or a directory of them) with top-level lists, each item in the API's own
 * shape. `apply` makes the controller match it (create / change, and delete with --prune); `diff` shows
 * what apply would do. Items are compared after both sides went through the same zod schema (defaults
 * filled, unknown keys dropped), so a second apply of the same file changes nothing.
 */
export const FleetFile = z.strictObject({
  targets: z.array(Target).default([]),
  schedules: z.array(Schedule).default([]),
  watches: z.array(Watch).default([]),
  rules: z.array(Rule).default([]),
  /** Silences have no id: one is matched by its matchers and comment; expired ones are recreated. */
  silences: z.array(SilenceRequest).default([]),
});
export type FleetFile = z.infer<typeof FleetFile>;

/** JSON Schema of the fleet file, generated from the zod schemas (docs/reference/fleet.schema.json). */
export function fleetJsonSchema(): unknown {
  const schema = z.toJSONSchema(FleetFile, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-7',
  }) as Record<string, unknown>;
  return {
    $id: 'https://liveprobe.dev/schemas/fleet.schema.json',
    title: 'liveprobe fleet file',
    description: 'targets, schedules, watches, rules and silences, each item in the controller API shape',
    ...schema,
  };
}

function files(path: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new CliError(`${path}: no such file or directory`, EXIT.usage);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f)))
    .sort()
    .map((f) => join(path, f));
}

/** Reads and validates every file; the lists of several files are concatenated (duplicate ids refused). */
export function loadFleet(paths: string[]): FleetFile {
  const out: FleetFile = { targets: [], schedules: [], watches: [], rules: [], silences: [] };
  for (const file of paths.flatMap(files)) {
    let raw: unknown;
    try {
      raw = parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new CliError(`${file}: not valid YAML: ${(err as Error).message}`, EXIT.config);
    }
    const parsed = FleetFile.safeParse(raw ?? {});
    if (!parsed.success) {
      const lines = parsed.error.issues
        .slice(0, 10)
        .map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new CliError(`${file}: invalid fleet file\n${lines.join('\n')}`, EXIT.config);
    }
    for (const k of Object.keys(out) as (keyof FleetFile)[]) (out[k] as unknown[]).push(...parsed.data[k]);
  }
  for (const k of ['targets', 'schedules', 'watches', 'rules'] as const) {
    const seen = new Set<string>();
    for (const item of out[k]) {
      if (seen.has(item.id)) throw new CliError(`${k}: id "${item.id}" declared twice`, EXIT.config);
      seen.add(item.id);
    }
  }
  return out;
}

export type Action = 'create' | 'change' | 'delete';
export interface Change {
  kind: keyof FleetFile;
  id: string;
  action: Action;
  /** Field paths that differ (change). */
  fields?: string[];
  apply: () => Promise<unknown>;
}

const clean = <S extends z.ZodType>(schema: S, v: unknown): z.infer<S> | undefined => {
  const p = schema.safeParse(v);
  return p.success ? p.data : undefined;
};

function changedFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !isDeepStrictEqual(a[k], b[k])).sort();
}

const silenceKey = (s: { matchers: unknown; comment: string }) => JSON.stringify([s.matchers, s.comment]);

/** Compares the file with what the controller has; returns the plan (nothing applied yet). */
export async function plan(api: ApiClient, want: FleetFile, prune: boolean): Promise<Change[]> {
  const changes: Change[] = [];
  const idKinds = [
    {
      kind: 'targets',
      schema: Target,
      path: '/v1/targets',
      put: (v: { id: string }) => api.request('PUT', `/v1/targets/${v.id}`, { ...v, id: undefined }),
    },
    {
      kind: 'schedules',
      schema: Schedule,
      path: '/v1/schedules',
      put: (v: { id: string }) => api.request('POST', '/v1/schedules', v),
    },
    {
      kind: 'watches',
      schema: Watch,
      path: '/v1/watches',
      put: (v: { id: string }) => api.request('POST', '/v1/watches', v),
    },
    {
      kind: 'rules',
      schema: Rule,
      path: '/v1/rules',
      put: (v: { id: string }) => api.request('PUT', `/v1/rules/${v.id}`, v),
    },
  ] as const;
  for (const k of idKinds) {
    const have = new Map<string, Record<string, unknown>>();
    for (const item of await api.get<Record<string, unknown>[]>(k.path)) {
      const c = clean(k.schema as z.ZodType, item) as Record<string, unknown> | undefined;
      if (c) have.set(String(c.id), c);
    }
    const wanted = want[k.kind] as unknown as Record<string, unknown>[];
    for (const w of wanted) {
      const id = String(w.id);
      const cur = have.get(id);
      if (!cur) changes.push({ kind: k.kind, id, action: 'create', apply: () => k.put(w as { id: string }) });
      else {
        const fields = changedFields(cur, w);
        if (fields.length)
          changes.push({
            kind: k.kind,
            id,
            action: 'change',
            fields,
            apply: () => k.put(w as { id: string }),
          });
      }
    }
    if (prune) {
      const ids = new Set(wanted.map((w) => String(w.id)));
      for (const id of have.keys()) {
        if (!ids.has(id))
          changes.push({
            kind: k.kind,
            id,
            action: 'delete',
            apply: () => api.request('DELETE', `${k.path}/${encodeURIComponent(id)}`),
          });
      }
    }
  }
  // Silences: matched by matchers + comment among those not expired.
  const live = (await api.get<SilenceView[]>('/v1/silences')).filter((s) => s.status !== 'expired');
  const liveKeys = new Map(live.map((s) => [silenceKey({ matchers: s.matchers, comment: s.comment }), s]));
  const wantedKeys = new Set<string>();
  for (const s of want.silences) {
    const key = silenceKey({ matchers: s.matchers, comment: s.comment });
    wantedKeys.add(key);
    if (!liveKeys.has(key))
      changes.push({
        kind: 'silences',
        id: s.comment,
        action: 'create',
        apply: () => api.request('POST', '/v1/silences', s),
      });
  }
  if (prune) {
    for (const [key, s] of liveKeys) {
      if (!wantedKeys.has(key))
        changes.push({
          kind: 'silences',
          id: s.id,
          action: 'delete',
          apply: () => api.request('DELETE', `/v1/silences/${s.id}`),
        });
    }
  }
  return changes;
}

const SIGN: Record<Action, string> = { create: '+', change: '~', delete: '-' };

export function formatPlan(changes: Change[]): string {
  if (changes.length === 0) return 'No changes. The controller matches the fleet file.';
  const lines = changes.map(
    (c) =>
      `  ${SIGN[c.action]} ${c.kind.replace(/s$/, '')} ${c.id}${c.action === 'change' ? ` (${c.fields?.join(', ')})` : c.action === 'create' ? ' (create)' : ' (delete)'}`,
  );
  const n = (a: Action) => changes.filter((c) => c.action === a).length;
  return [
    ...lines,
    '',
    `Plan: ${n('create')} to create, ${n('change')} to change, ${n('delete')} to delete.`,
  ].join('\n');
}

/** Applies the plan in file order (targets before the schedules and watches that name them). */
export async function applyPlan(changes: Change[]): Promise<void> {
  const order: (keyof FleetFile)[] = ['targets', 'rules', 'schedules', 'watches', 'silences'];
  const creates = changes
    .filter((c) => c.action !== 'delete')
    .sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const deletes = changes
    .filter((c) => c.action === 'delete')
    .sort((a, b) => order.indexOf(b.kind) - order.indexOf(a.kind));
  for (const c of [...creates, ...deletes]) {
    await c.apply();
    process.stdout.write(`${SIGN[c.action]} ${c.kind.replace(/s$/, '')} ${c.id}: ${c.action}d\n`);
  }
}
