import 'uplot/dist/uPlot.min.css';
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** Region colours: fixed order, distinguishable, and lines also differ by dash (not colour alone). */
const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#17becf',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
];
const DASHES: (number[] | undefined)[] = [undefined, [6, 3], [2, 2], [8, 3, 2, 3]];

export interface Line {
  label: string;
  values: (number | null)[];
}

export interface ChartProps {
  title: string;
  /** Seconds since the epoch (uPlot's x unit). */
  times: number[];
  lines: Line[];
  /** Formats a y value for the axis and the legend. */
  fmt: (v: number) => string;
  /** Shaded time ranges (alert episodes), seconds. */
  bands?: [number, number][];
  /** Vertical markers (sweeps), seconds. */
  marks?: number[];
  width?: number;
  /** Counts: integer ticks only. */
  integer?: boolean;
  /** Fixed y range (ratios: 0..1); default from 0 to the data's max. */
  yRange?: [number, number];
}

/** One uPlot chart; recreated when its series change shape, otherwise fed new data in place. */
export function Chart({
  title,
  times,
  lines,
  fmt,
  bands = [],
  marks = [],
  width = 560,
  integer,
  yRange,
}: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = lines.map((l) => l.label).join('|');
  const extras = useRef({ bands, marks });
  extras.current = { bands, marks };
  useEffect(() => {
    if (!el.current) return;
    const opts: uPlot.Options = {
      width: Math.max(300, el.current.clientWidth || width),
      height: 200,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        // from zero, so a small wobble does not look like a cliff; at least 1 for counts of zero
        y: { range: (_u, _min, max) => yRange ?? [0, Math.max(max * 1.1, integer ? 3 : 0.001)] },
      },
      axes: [
        { stroke: axisColor(), grid: { stroke: 'rgba(128,128,128,0.15)' } },
        {
          stroke: axisColor(),
          grid: { stroke: 'rgba(128,128,128,0.15)' },
          size: 60,
          values: (_u, vs) => vs.map((v) => fmt(v)),
          ...(integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10_000] } : {}),
        },
      ],
      series: [
        {},
        ...lines.map((l, i) => ({
          label: l.label,
          stroke: PALETTE[i % PALETTE.length],
          dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length] ?? (i % 2 ? [5, 3] : undefined),
          width: 2,
          // Probes report every few seconds to minutes: steps without a report are joined up to 2 minutes
          // apart; a longer silence stays a visible gap (no data is not a value).
          gaps: (u: uPlot, _sidx: number, _i0: number, _i1: number, nullGaps: uPlot.Series.Gaps) => {
            const x0 = u.scales.x?.min ?? 0;
            const px = u.valToPos(x0 + 120, 'x', true) - u.valToPos(x0, 'x', true);
            return nullGaps.filter(([a, b]) => b - a > px);
          },
          points: { show: true, size: 4 },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : fmt(v)),
        })),
      ],
      hooks: {
        drawClear: [
          (u: uPlot) => {
            // alert episodes as shaded bands, sweeps as dashed markers, under the lines
            const ctx = u.ctx;
            const { top, height } = u.bbox;
            ctx.save();
            ctx.fillStyle = 'rgba(214, 39, 40, 0.12)';
            for (const [a, b] of extras.current.bands) {
              const x0 = u.valToPos(a, 'x', true);
              const x1 = u.valToPos(b, 'x', true);
              ctx.fillRect(x0, top, Math.max(2, x1 - x0), height);
            }
            ctx.strokeStyle = 'rgba(31, 95, 191, 0.6)';
            ctx.setLineDash([3, 3]);
            for (const t of extras.current.marks) {
              const x = u.valToPos(t, 'x', true);
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + height);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
    const p = new uPlot(opts, [times, ...lines.map((l) => l.values)] as uPlot.AlignedData, el.current);
    plot.current = p;
    // follow the grid column's width
    const box = el.current;
    const ro = new ResizeObserver(() => {
      const w = box.clientWidth;
      if (w > 0 && Math.abs(w - p.width) > 4) p.setSize({ width: w, height: 200 });
    });
    ro.observe(box);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = undefined;
    };
    // recreated only when the set of lines changes
  }, [shape, width, integer, yRange?.[0], yRange?.[1]]);
  useEffect(() => {
    plot.current?.setData([times, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  }, [times, lines]);
  const empty = !lines.some((l) => l.values.some((v) => v !== null));
  return html`<figure class="chart"><h3>${title}</h3>${
    empty
      ? html`<p class="muted empty">No data in the last hour (this probe kind may not measure it).</p>`
      : null
  }<div class=${empty ? 'plot hidden' : 'plot'} ref=${el}></div></figure>`;
}

const axisColor = () =>
  getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#5d6670';
