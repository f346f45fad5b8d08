/**
 * What one report window accumulates. A run keeps two: the current interval (watch mode) and the whole run
 * (the summary). Everything is bounded: reservoirs for percentiles, capped lists, collapsed findings/errors.
 */

import type { DDSketch } from '@datadog/sketches-js';
import { newSampleSketch } from '../../shared/sample-sketch.js';
import {
  type ErrorCategory,
  MAX_ERRORS_IN_REPORT,
  MAX_SEGMENTS_IN_REPORT,
  type ProbeErrorEntry,
  type SampleName,
  type SegmentTiming,
} from '../../shared/schemas.js';
import { FindingBook } from './findings.js';
import { Reservoir } from './stats.js';

interface ErrorSlot {
  entry: ProbeErrorEntry;
  count: number;
}

/** Errors collapsed by (category, type, url): one entry with a count in its details. */
export class ErrorLog {
  private slots = new Map<string, ErrorSlot>();

  add(e: ProbeErrorEntry): void {
    const key = `${e.category}|${e.type}|${e.status ?? ''}|${e.url ?? ''}`;
    const s = this.slots.get(key);
    if (s) {
      s.count++;
      return;
    }
    if (this.slots.size >= 1000) return;
    this.slots.set(key, { entry: e, count: 1 });
  }

  entries(): ProbeErrorEntry[] {
    return [...this.slots.values()]
      .sort((a, b) => Number(b.entry.fatal) - Number(a.entry.fatal) || a.entry.at - b.entry.at)
      .slice(0, MAX_ERRORS_IN_REPORT)
      .map((s) => ({
        ...s.entry,
        details: s.count > 1 ? `${s.entry.details.slice(0, 960)} (x${s.count})` : s.entry.details,
      }));
  }
}

/** Keeps the slowest third and the most recent two thirds of segment timings, in time order. */
export class SegmentList {
  private recent: SegmentTiming[] = [];
  private slowest: SegmentTiming[] = [];
  private readonly recentCap = Math.floor((MAX_SEGMENTS_IN_REPORT * 2) / 3);
  private readonly slowCap = MAX_SEGMENTS_IN_REPORT - this.recentCap;

  add(t: SegmentTiming): void {
    this.recent.push(t);
    if (this.recent.length > this.recentCap * 2) this.recent.splice(0, this.recent.length - this.recentCap);
    if (this.slowest.length < this.slowCap) this.slowest.push(t);
    else {
      let min = 0;
      for (let i = 1; i < this.slowest.length; i++) {
        if (this.slowest[i]!.download_ms < this.slowest[min]!.download_ms) min = i;
      }
      if (t.download_ms > this.slowest[min]!.download_ms) this.slowest[min] = t;
    }
  }

  list(): SegmentTiming[] {
    const recent = this.recent.slice(-this.recentCap);
    const set = new Set<SegmentTiming>([...recent, ...this.slowest]);
    return [...set].sort((a, b) => a.at - b.at).slice(-MAX_SEGMENTS_IN_REPORT);
  }
}

export class Tally {
  readonly startedAt = Date.now();
  readonly book = new FindingBook();
  readonly errors = new ErrorLog();
  readonly segments = new SegmentList();
  // Percentiles from uniform samples of at most 1024 values: a long watch over thousands of renditions
  // keeps a bounded footprint per run.
  readonly ttfb = new Reservoir(1024);
  readonly download = new Reservoir(1024);
  readonly throughput = new Reservoir(1024);
  readonly availability = new Reservoir(1024);
  /** Download phases (connect/TLS only from downloads that opened a connection). */
  readonly connect = new Reservoir(512);
  readonly tls = new Reservoir(512);
  readonly transfer = new Reservoir(1024);
  newConnections = 0;
  /** Reload start vs its planned time, % of the interval (our own drift, not the RFC lateness). */
  readonly pollDriftPct = new Reservoir(512);
  /** Highest measured segment bitrate / declared bandwidth, and the rendition it was on. */
  bandwidthPeakRatio: number | undefined;
  /** Every sample (not a reservoir's subset) as a mergeable sketch, for the report's `sketches`. */
  readonly sketches = new Map<SampleName, DDSketch>();
  sample(name: SampleName, v: number): void {
    let s = this.sketches.get(name);
    if (!s) {
      s = newSampleSketch();
      this.sketches.set(name, s);
    }
    if (Number.isFinite(v)) s.accept(Math.max(0, v));
  }
  /** Availability delays still negative after the clock correction (clock skew). */
  skewNegative = 0;
  /** The clock estimate's ± bound when availability delays were corrected by it. */
  clockUncertaintyMs: number | undefined;
  segmentsTotal = 0;
  segmentsSkipped = 0;
  polls = 0;
  errorsByCategory: Record<ErrorCategory, number> = { http: 0, network: 0, player: 0, conformance: 0 };
  /** Master / MPD (or the lone media playlist) fetched and parsed at least once in this window. */
  entryOk = 0;
  entryFailed = 0;
}
