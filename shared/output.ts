/**
 * Every command prints a table for people, and JSON (`--json`) or TSV (`--tsv`) for scripts.
 * Commands build plain rows and hand them here; nothing else in the code base formats output.
 */

export type OutputFormat = 'table' | 'json' | 'tsv';

export interface FormatFlags {
  json?: boolean;
  tsv?: boolean;
}

export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
  align?: 'left' | 'right';
}

export function formatOf(flags: FormatFlags): OutputFormat {
  if (flags.json) return 'json';
  if (flags.tsv) return 'tsv';
  return 'table';
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

export function renderTsv<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const clean = (s: string) => s.replace(/[\t\n\r]/g, ' ');
  const out = [columns.map((c) => c.header).join('\t')];
  for (const row of rows) out.push(columns.map((c) => clean(cell(c.value(row)))).join('\t'));
  return out.join('\n') + '\n';
}

/** Prints rows in the chosen format. JSON is one array; `jsonValue` may reshape it. */
export function printRows<Row>(
  rows: readonly Row[],
  columns: readonly Column<Row>[],
  format: OutputFormat,
  jsonValue: (rows: readonly Row[]) => unknown = (r) => r,
): void {
  if (format === 'json') process.stdout.write(JSON.stringify(jsonValue(rows), jsonReplacer) + '\n');
  else if (format === 'tsv') process.stdout.write(renderTsv(rows, columns));
  else process.stdout.write(renderTable(rows, columns));
}

/** Prints one record: `key  value` lines for people, one JSON object or `key\tvalue` lines for scripts. */
export function printRecord(record: Record<string, unknown>, format: OutputFormat): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(record, jsonReplacer) + '\n');
    return;
  }
  const entries = Object.entries(record);
  if (format === 'tsv') {
    process.stdout.write(entries.map(([k, v]) => `${k}\t${cell(v)}`).join('\n') + '\n');
    return;
  }
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  process.stdout.write(entries.map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n') + '\n');
}

/** One JSON line (for progress and event streams under `--json`, like restic). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(JSON.stringify(value, jsonReplacer) + '\n');
}

/** JSON has no bigint or bytes: bigints become strings and byte arrays become hex. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
    const data = (value as { data?: unknown }).data;
    if (Array.isArray(data)) return Buffer.from(data as number[]).toString('hex');
  }
  return value;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Parses "512", "64K", "1.5GiB", "10MB" (binary multiples) into bytes; undefined when malformed. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const power = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}
