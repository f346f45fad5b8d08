/**
 * The testbed's ground truth for segment timing. ffmpeg stamps EXT-X-PROGRAM-DATE-TIME from the moment its
 * muxer initialised, which trails the capture of the first frame by its start-up time (~100 ms here) and
 * drifts if frames are ever dropped. The source knows better: it painted every frame with Date.now(), and a
 * segment starts exactly at a GOP boundary (fixed GOP = segment duration, no scene cuts). So for ffmpeg run r,
 * segment seq of a media playlist starts at frame (seq - firstSeq[r][playlist]) * gop, whose capture time we
 * recorded. The origin writes that time as the PDT (and as the DASH availabilityStartTime).
 */

interface Run {
  id: number;
  /** Capture time of frame n for n % gop == 0 (bounded). */
  keyStamps: Map<number, number>;
  /** Per media playlist path: the media sequence number of this run's first segment. */
  firstSeq: Map<string, number>;
  frame0?: number;
}

export class TimelineTruth {
  private readonly runs: Run[] = [];
  private nextId = 1;

  constructor(
    readonly gop: number,
    private readonly maxKeyframes = 600,
    private readonly maxRuns = 6,
  ) {}

  /** A new ffmpeg run: `lastSeq` gives, per media playlist, the last sequence already published (-1 if none). */
  beginRun(): number {
    const run: Run = { id: this.nextId++, keyStamps: new Map(), firstSeq: new Map() };
    this.runs.push(run);
    while (this.runs.length > this.maxRuns) this.runs.shift();
    return run.id;
  }

  setFirstSeq(runId: number, path: string, firstSeq: number): void {
    this.runs.find((r) => r.id === runId)?.firstSeq.set(path, firstSeq);
  }

  /** Called for every frame the source writes. */
  frame(n: number, stampMs: number): void {
    const run = this.runs[this.runs.length - 1];
    if (!run) return;
    if (n === 0) run.frame0 = stampMs;
    if (n % this.gop !== 0) return;
    run.keyStamps.set(n, stampMs);
    if (run.keyStamps.size > this.maxKeyframes) {
      const oldest = run.keyStamps.keys().next().value;
      if (oldest !== undefined) run.keyStamps.delete(oldest);
    }
  }

  /** True capture time of the first frame of media segment `seq` of `path`, if known. */
  segmentStart(path: string, seq: number): number | undefined {
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const run = this.runs[i]!;
      const first = run.firstSeq.get(path);
      if (first === undefined || seq < first) continue;
      return run.keyStamps.get((seq - first) * this.gop);
    }
    return undefined;
  }

  /**
   * Capture time of frame 0 of the run that was live at `ms` (e.g. ffmpeg's own availabilityStartTime,
   * which trails frame 0 by ffmpeg's start-up).
   */
  runStartBefore(ms: number): number | undefined {
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const f0 = this.runs[i]!.frame0;
      if (f0 !== undefined && f0 <= ms + 50) return f0;
    }
    return undefined;
  }

  /** Capture time of frame 0 of the current run (media time 0 of a DASH period). */
  currentRunStart(): number | undefined {
    return this.runs[this.runs.length - 1]?.frame0;
  }
}
