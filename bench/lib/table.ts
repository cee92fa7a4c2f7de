/**
 * The one results table: printed to the terminal and written as Markdown.
 */
import type { Row } from './context.ts';

const COLUMNS = ['scenario', 'baseline', 'ours', 'ratio', 'target', 'result'] as const;

const cells = (r: Row): string[] => [r.scenario, r.baseline, r.ours, r.ratio, r.target, r.status];

/** A plain-text table with aligned columns and numbered notes under it. */
export function textTable(rows: Row[]): string {
  const body = rows.map(cells);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((r) => (r[i] as string).length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i] as number)).join(' | ');
  const out = [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)];
  const notes = rows.flatMap((r) => r.notes.map((n) => `  ${r.scenario}: ${n}`));
  return [...out, ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}

const md = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The same table as GitHub Markdown, notes as a list. */
export function markdownTable(rows: Row[]): string {
  const head = `| ${COLUMNS.join(' | ')} |\n|${COLUMNS.map(() => '---').join('|')}|`;
  const body = rows.map((r) => `| ${cells(r).map(md).join(' | ')} |`).join('\n');
  const notes = rows.flatMap((r) => r.notes.map((n) => `- **${md(r.scenario)}**: ${md(n)}`));
  return [head, body, ...(notes.length ? ['', '### Notes', '', ...notes] : [])].join('\n');
}
