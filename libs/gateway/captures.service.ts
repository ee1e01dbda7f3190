import { Injectable } from '@nestjs/common';
import { AuditService, type Actor } from '../audit/audit.service';
import { ExperimentsService } from '../experiments/experiments.service';
import { CaptureStore, type CapturePage } from './capture-store';

/** The captures of an experiment through the API (docs/adr/0039): paged, or all deleted (audited). */
@Injectable()
export class CapturesService {
  constructor(
    private readonly experiments: ExperimentsService,
    private readonly store: CaptureStore,
    private readonly audit: AuditService,
  ) {}

  /** Newest first; 404 when the experiment does not exist, 400 naming `cursor` for a cursor this route did not give. */
  async list(projectId: string, key: string, options: { variant?: string; cursor?: string; limit: number }): Promise<CapturePage> {
    const experiment = await this.experiments.get(projectId, key);
    return this.store.list(experiment.id, options);
  }

  /** Deletes every capture of the experiment now (whatever their retention); the audit log keeps how many. */
  async deleteAll(projectId: string, actor: Actor, key: string): Promise<{ deleted: number }> {
    const experiment = await this.experiments.get(projectId, key);
    const deleted = await this.store.deleteAll(experiment.id);
    await this.audit.record({ projectId, actor, action: 'experiment.captures_deleted', targetType: 'experiment', targetId: experiment.id, after: { deleted } });
    return { deleted };
  }
}
