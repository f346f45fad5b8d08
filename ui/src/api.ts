/** The controller's HTTP API as the page uses it: same origin, session cookie (when auth is on). */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called on 401: the page shows the sign-in form. */
let onUnauthorized: (() => void) | undefined;
export const setUnauthorizedHandler = (fn: () => void) => {
  onUnauthorized = fn;
};

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (res.status === 401) onUnauthorized?.();
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const d = data as { message?: string; issues?: { path: string; message: string }[] } | undefined;
    const issues = d?.issues?.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ApiError(res.status, issues || d?.message || `${res.status} ${res.statusText}`);
  }
  return data as T;
}

// ---------------------------------------------------------------------------- shapes the page reads

export type Outcome = 'ok' | 'degraded' | 'failed' | 'probe-error';
export type Role = 'viewer' | 'operator' | 'admin';

export interface Session {
  auth: boolean;
  name: string;
  role: Role;
}

export interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
  count: number;
}

export interface WindowFigures {
  count: number;
  outcomes: { ok: number; degraded: number; failed: number; 'probe-error': number };
  success_ratio: number | null;
  rebuffer_ratio: number | null;
  metrics: Partial<Record<string, Quantiles>>;
  findings: Record<string, number>;
}

export interface ReportLine {
  id: string;
  at: string;
  agentId: string;
  probe: string;
  outcome: Outcome;
  reasons: string[];
  findings: string[];
  startup_ms?: number;
  g2g_ms?: number;
}

export interface BoardCell {
  target: string;
  region: string;
  w1m: WindowFigures | null;
  w5m: WindowFigures;
  latest: ReportLine[];
}

export interface TargetInfo {
  id: string;
  name?: string;
  labels: Record<string, string>;
  protocol?: 'hls' | 'dash';
  url?: string;
}

export interface BoardData {
  at: string;
  targets: TargetInfo[];
  regions: string[];
  cells: BoardCell[];
}

export interface Finding {
  code: string;
  severity: string;
  at: number;
  count: number;
  evidence: string;
}

export interface Report {
  id: string;
  target: { id: string; url: string; protocol: string };
  region: string;
  agentId: string;
  probe: string;
  mode: string;
  seq: number;
  startedAt: string;
  endedAt: string;
  outcome: Outcome;
  reasons: string[];
  metrics: Record<string, number | undefined>;
  startup?: Partial<Record<string, number>>;
  findings: Finding[];
  sweepId?: string;
  /** The clock-strip injector the glass-to-glass figure was read from (g2g_method: stamp). */
  g2g_injector_id?: number;
  g2g_method?: string;
}

/** GET /v1/injectors: a clock-strip injector, from its heartbeats. */
export interface InjectorView {
  id: number;
  name: string;
  site?: string;
  status: 'online' | 'offline';
  lastSeen: string;
  mode: string;
  framesPainted: number;
  framesPassed: number;
  addedDelayMs?: number;
  clockOffsetMs?: number;
  appliedOffsetMs: number;
  uptimeS: number;
}

export interface SeriesData {
  times: number[];
  step_ms: number;
  series: { region: string; values: (number | null)[] }[];
}

export interface RegionEvidence {
  region: string;
  value: number | null;
  breaching: boolean;
  inhibited?: string;
  reports: number;
  sample_reports: string[];
}

export interface Alert {
  id: string;
  rule: string;
  state: 'pending' | 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  active_at: string;
  fired_at?: string;
  resolved_at?: string;
  value: number | null;
  threshold: number | null;
  held: boolean;
  evidence: {
    window?: string;
    quorum?: { need: number; breaching: number; regions: number };
    regions: RegionEvidence[];
    agents?: { agent: string; region: string; last_seen: string }[];
  };
  silenced_by: string[];
}

export interface HistoryEntry {
  id?: string;
  rule?: string;
  labels?: Record<string, string>;
  [k: string]: unknown;
}

export interface Matcher {
  name: string;
  value: string;
  is_regex?: boolean;
  is_equal?: boolean;
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  starts_at: string;
  ends_at: string;
  created_by: string;
  comment: string;
  status: 'active' | 'pending' | 'expired';
}

export interface RegionProgress {
  expected: number;
  received: number;
  ok: number;
  degraded: number;
  failed: number;
  probeError: number;
  missing: number;
}

export interface Sweep {
  id: string;
  state: 'queued' | 'running' | 'done';
  createdAt: string;
  deadline: string;
  finishedAt?: string;
  probe: string;
  durationS: number;
  targets: { id: string }[];
  regions: string[];
  expected: number;
  received: number;
  perRegion: Record<string, RegionProgress>;
  reports?: Report[];
}

export interface RegionCapacity {
  region: string;
  agents: { online: number; offline: number; draining: number };
  capacity: { browser: number; stream: number };
  running: { browser: number; stream: number };
  free: { browser: number; stream: number };
  dropped: number;
  spooled: number;
}

export interface AgentView {
  agentId: string;
  region: string;
  status: 'online' | 'offline';
  lastSeen: string;
  heartbeat: {
    version: string;
    clockOffsetMs?: number;
    draining: boolean;
    capacity: Record<string, number>;
    running: Record<string, number>;
    publisher?: { spooled?: number; dropped?: number; spoolDepth?: number };
  };
}
