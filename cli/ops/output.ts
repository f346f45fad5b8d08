import Table from 'cli-table3';
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined | null;
}

/** -o json|yaml prints the API's data as is; table prints the chosen columns (boxed on a TTY, plain otherwise). */
export function print<T>(
  data: T[] | T,
  format: OutputFormat,
  columns: Column<T>[],
  out = process.stdout,
): void {
  if (format === 'json') {
    out.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  if (format === 'yaml') {
    out.write(stringify(data));
    return;
  }
  const rows = Array.isArray(data) ? data : [data];
  out.write(`${table(rows, columns, Boolean((out as NodeJS.WriteStream).isTTY))}\n`);
}

export function table<T>(rows: T[], columns: Column<T>[], tty: boolean): string {
  const cells = rows.map((r) => columns.map((c) => String(c.value(r) ?? '')));
  if (!tty) {
    // Plain aligned columns: greppable, no box characters in a log.
    const all = [columns.map((c) => c.header.toUpperCase()), ...cells];
    const widths = columns.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
    return all
      .map((r) =>
        r
          .map((v, i) => v.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
  }
  const t = new Table({ head: columns.map((c) => c.header), style: { head: ['bold'] } });
  for (const r of cells) t.push(r);
  return t.toString();
}

export const ago = (iso: string | undefined): string => {
  if (!iso) return '';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
};
