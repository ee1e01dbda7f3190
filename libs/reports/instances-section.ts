import { escapeHtml as h } from './html';

/**
 * One instance of a variant's upstream pool with the state of the replica that renders the
 * page (issue #18): the gateway's pool state, the same as GET /v1/gateway/upstreams.
 */
export interface InstanceRow {
  variant: string;
  /** Without credentials. */
  baseUrl: string;
  weight: number;
  inFlight: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  errorRate: number | null;
  calls: number;
  cooledUntil: string | null;
  coolDowns: number;
  probe: boolean;
}

/** Reads the instance rows of an experiment (given by the app, which holds the gateway). */
export type InstanceRowsReader = (projectId: string, experiment: string) => InstanceRow[];

const ms = (v: number | null) => (v === null ? '–' : `${v.toFixed(v < 10 ? 1 : 0)} ms`);

/** The "Upstream instances" section of the results page; empty when no variant has an upstream pool. */
export function instancesSectionHtml(rows: readonly InstanceRow[]): string {
  if (rows.length === 0) return '';
  const head = ['Variant', 'Instance', 'Weight', 'In flight', 'p50', 'p95', 'Error rate', 'Calls', 'Cooled until', 'Cool-downs'].map((x) => `<th>${h(x)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cells: Array<[string, string, string | number]> = [
        ['weight', String(r.weight), r.weight],
        ['in-flight', String(r.inFlight), r.inFlight],
        ['p50', ms(r.latencyP50Ms), r.latencyP50Ms ?? ''],
        ['p95', ms(r.latencyP95Ms), r.latencyP95Ms ?? ''],
        ['error-rate', r.errorRate === null ? '–' : `${(r.errorRate * 100).toFixed(1)} %`, r.errorRate ?? ''],
        ['calls', String(r.calls), r.calls],
        ['cooled-until', r.cooledUntil ?? '–', r.cooledUntil ?? ''],
        ['cool-downs', String(r.coolDowns), r.coolDowns],
      ];
      return (
        `<tr data-variant="${h(r.variant)}" data-instance="${h(r.baseUrl)}"${r.cooledUntil ? ' class="cooled"' : ''}>` +
        `<td>${h(r.variant)}</td><td><code>${h(r.baseUrl)}</code>${r.probe ? ' <span class="muted">(probed)</span>' : ''}</td>` +
        cells.map(([name, text, value]) => `<td data-field="${name}" data-value="${h(value)}">${h(text)}</td>`).join('') +
        `</tr>`
      );
    })
    .join('');
  return (
    `<section id="instances"><h2>Upstream instances</h2>` +
    `<p class="muted">As seen by the replica that rendered this page: calls in flight, latency of the latest successful calls, error rate and calls within the health window (failed probes count as failed calls), cool-downs since it started.</p>` +
    `<div class="table-wrap"><table id="instances-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div></section>`
  );
}
