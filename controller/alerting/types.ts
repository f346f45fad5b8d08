/** Values passed between the pipeline stages (evaluate -> inhibit -> quorum -> state -> silence -> group -> notify). */
import type { ProbeKind } from '../../shared/schemas.js';
import type { SummaryGroup, WindowName } from '../aggregate/aggregator.js';
import type { Evidence, Labels, Rule } from './schema.js';

/** One (target, region, probe kind) window summary: what the aggregator gives the evaluator. 'all' = both kinds merged. */
export interface SeriesRow {
  target: string;
  region: string;
  probe: ProbeKind | 'all';
  summary: SummaryGroup;
}

/** Reads window summaries: all series (a full evaluation) or only some targets (a report triggered it). */
export type ReadRows = (window: WindowName, targets?: ReadonlySet<string>) => SeriesRow[];

/** A rule's figure in one region for one target. */
export interface RegionSample {
  region: string;
  value: number | null;
  /** value is present, the region has min_reports, and value compares true against the threshold. */
  breaching: boolean;
  /** The region has a say: a value and at least min_reports reports. */
  counted: boolean;
  reports: number;
  probeErrors: number;
  /** Set by the inhibit stage: why this region's figure does not count now. */
  inhibited?: string;
  sampleReports: string[];
}

/** A series rule evaluated for one target: the per-region figures. */
export interface TargetSample {
  rule: Rule;
  target: string;
  threshold: number;
  regions: RegionSample[];
}

/** What the state stage acts on: one would-be alert (one fingerprint) and whether its condition holds now. */
export interface Candidate {
  rule: Rule;
  fingerprint: string;
  labels: Labels;
  annotations: Record<string, string>;
  /** The condition holds (quorum met by regions that count). */
  active: boolean;
  /** Not active only because breaching regions are inhibited: a firing alert stays as it is. */
  held: boolean;
  value: number | null;
  threshold: number | null;
  evidence: Evidence;
}
