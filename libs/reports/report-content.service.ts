import { Injectable } from '@nestjs/common';
import { ResultsService } from '../analysis/results.service';
import { EvaluationRunsService } from '../evaluation/evaluation-runs.service';
import { ExperimentsService } from '../experiments/experiments.service';
import { ExperimentNotFoundError } from '../experiments/experiments.errors';
import { PageLinkSigner } from './page-link';
import { buildView, type ExperimentView } from './report-view';

/** Gathers what a report shows: each experiment's status and its results, exactly as GET .../results returns them. */
@Injectable()
export class ReportContentService {
  constructor(
    private readonly experiments: ExperimentsService,
    private readonly results: ResultsService,
    private readonly links: PageLinkSigner,
    private readonly evaluations: EvaluationRunsService,
  ) {}

  /** Views of the given keys (null: every running experiment), and the keys not found. */
  async views(projectId: string, keys: string[] | null): Promise<{ views: ExperimentView[]; missing: string[]; links: Record<string, string> }> {
    const wanted = keys ?? (await this.experiments.list(projectId, { status: 'running', limit: 100, offset: 0 })).items.map((e) => e.key).sort();
    const views: ExperimentView[] = [];
    const missing: string[] = [];
    for (const key of wanted) {
      try {
        views.push(await this.view(projectId, key));
      } catch (error) {
        if (error instanceof ExperimentNotFoundError) missing.push(key);
        else throw error;
      }
    }
    const links = Object.fromEntries(views.map((v) => [v.key, this.links.sign(projectId, v.key).url]));
    return { views, missing, links };
  }

  async view(projectId: string, key: string): Promise<ExperimentView> {
    const experiment = await this.experiments.get(projectId, key);
    const view = buildView(experiment, await this.results.results(projectId, key));
    const run = await this.evaluations.latestDone(experiment.id);
    view.offline =
      run?.results && run.datasetVersion
        ? { runId: run.id, dataset: run.datasetVersion.name, datasetVersion: run.datasetVersion.version, control: run.control, partial: run.partial, finishedAt: run.finishedAt?.toISOString() ?? null, results: run.results }
        : null;
    return view;
  }
}
