/**
 * @module The dashboard's one table: a caption (shown, or for screen readers only), column headers
 * with `scope`, an optional row header column, a row saying so when there is nothing to list, and a
 * box that scrolls sideways at phone width and can be reached and scrolled with the keyboard. Every
 * page's list is one of these, so they all read the same to a screen reader.
 */
import type { ComponentChildren } from 'preact';

export interface Column<T> {
  /** The header's text; `hideLabel` keeps it for screen readers only (an actions column). */
  label: string;
  hideLabel?: boolean;
  /** What the row's cell shows. */
  cell: (row: T) => ComponentChildren;
  /** The cell's class (`mono`, `small`, ...). */
  class?: string;
  /** This column names the row: its cells are row headers. */
  rowHeader?: boolean;
}

export interface TableProps<T> {
  /** Says what the table lists; `captionHidden` keeps it for screen readers only (the page's heading says it). */
  caption: ComponentChildren;
  captionHidden?: boolean;
  columns: Column<T>[];
  rows: T[];
  /** A stable key per row. */
  rowKey: (row: T) => string;
  /** Extra attributes of a row's `<tr>` (`data-*` that tests and styles find rows by). */
  rowAttrs?: (row: T) => Record<string, string>;
  /** Shown in one row when `rows` is empty; without it an empty table has no body rows. */
  empty?: ComponentChildren;
  /** The table's `data-testid`. */
  testId?: string;
  /** The scrolling box's accessible name (default: the caption when it is text). */
  label?: string;
}

export function Table<T>({
  caption,
  captionHidden,
  columns,
  rows,
  rowKey,
  rowAttrs,
  empty,
  testId,
  label,
}: TableProps<T>) {
  return (
    // A box that scrolls sideways is a named region the keyboard can reach (and scroll) too.
    <section
      class="table-wrap"
      aria-label={label ?? (typeof caption === 'string' ? caption : undefined)}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable from the keyboard
      tabIndex={0}
    >
      <table data-testid={testId}>
        <caption class={captionHidden ? 'sr-only' : undefined}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c.label}>
                {c.hideLabel ? <span class="sr-only">{c.label}</span> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)} {...(rowAttrs?.(r) ?? {})}>
              {columns.map((c) =>
                c.rowHeader ? (
                  <th scope="row" key={c.label} class={c.class}>
                    {c.cell(r)}
                  </th>
                ) : (
                  <td key={c.label} class={c.class}>
                    {c.cell(r)}
                  </td>
                ),
              )}
            </tr>
          ))}
          {rows.length === 0 && empty !== undefined && (
            <tr>
              <td colSpan={columns.length} class="muted">
                {empty}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** `key=value, ...` of a label map, or `-`. */
export function labelText(labels: Record<string, string>): string {
  return (
    Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ') || '-'
  );
}
