/** @module Small shared pieces of the dashboard's pages: state badges, errors, verdict tables. */
import type { ComponentChildren } from 'preact';
import type { Verdict } from './types.js';

export function Badge({ state }: { state: string }) {
  return <span class={`badge s-${state}`}>{state}</span>;
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{title}</h1>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function Verdicts({ verdicts, caption }: { verdicts: Verdict[]; caption: string }) {
  if (verdicts.length === 0) return <p class="muted">No pools were considered.</p>;
  return (
    <div class="table-wrap">
      <table data-testid="verdicts">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Pool</th>
            <th scope="col">Provider</th>
            <th scope="col">Priority</th>
            <th scope="col">Verdict</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {verdicts.map((v) => (
            <tr key={v.poolId}>
              <td>{v.poolName}</td>
              <td>{v.providerId}</td>
              <td>{v.priority}</td>
              <td>
                {v.chosen ? (
                  <span class="badge s-succeeded">chosen</span>
                ) : (
                  <span class="badge s-failed">{v.reason}</span>
                )}
              </td>
              <td>{v.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
