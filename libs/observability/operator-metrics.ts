import { Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ForbiddenError } from '../errors/domain-error';

/** One sample of a metric: its labels and value. */
export interface MetricSample {
  labels?: Record<string, string>;
  value: number;
}

/** A metric family as Prometheus' text format shows it: a HELP and TYPE line, then its samples. */
export interface MetricFamily {
  /** snake_case, prefixed `verdict_`; counters end in `_total`. */
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: MetricSample[];
}

const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** The Prometheus text exposition format (version 0.0.4) of some families, in the order given. */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  let text = '';
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels ?? {});
      const rendered = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      text += `${family.name}${rendered} ${formatValue(sample.value)}\n`;
    }
  }
  return text;
}

export type MetricSource = () => Promise<MetricFamily[]> | MetricFamily[];

/**
 * The operator metrics GET /metrics serves. Each context registers a source at start-up
 * (ingestion: libs/ingestion/ingest-counters.ts); a scrape asks every source and renders
 * their families in registration order. A source that fails is logged and left out of that
 * scrape, so one broken source never hides the others.
 */
@Injectable()
export class OperatorMetrics {
  private readonly logger = new Logger(OperatorMetrics.name);
  private readonly sources: MetricSource[] = [];

  register(source: MetricSource): void {
    this.sources.push(source);
  }

  /** The operator's: totals across every project, so only the bootstrap admin key (VERDICT_ADMIN_KEY) reads them. */
  async renderFor(principal: Principal): Promise<string> {
    if (!principal.isBootstrap) throw new ForbiddenError('Only the bootstrap admin key (VERDICT_ADMIN_KEY) may read the operator metrics.');
    return this.render();
  }

  async render(): Promise<string> {
    const results = await Promise.allSettled(this.sources.map(async (source) => source()));
    const families: MetricFamily[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') families.push(...result.value);
      else this.logger.error({ err: result.reason }, 'a metrics source failed');
    }
    return renderPrometheus(families);
  }
}
