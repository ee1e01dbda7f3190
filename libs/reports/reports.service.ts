import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import type { DataSource, Repository } from 'typeorm';
import { AuditService, type Actor } from '../audit/audit.service';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { TooManyRequestsError, ValidationFailedError } from '../errors/domain-error';
import { ReportScheduler } from './report-scheduler';
import { ReportSendEntity } from './report-send.entity';
import { ReportEntity } from './report.entity';
import { ReportNotFoundError } from './reports.errors';
import { scheduleErrors } from './schedule-validation';

export interface CreateReportInput {
  name: string;
  recipients: string[];
  cron: string;
  timezone: string;
  /** Experiment keys; omitted or null: every running experiment. */
  experiments?: string[] | null;
}
export type UpdateReportInput = Partial<CreateReportInput>;

function describe(report: ReportEntity): object {
  const { name, recipients, cron, timezone, experiments } = report;
  return { name, recipients, cron, timezone, experiments };
}

/** Report subscriptions: stored in Postgres, scheduled in BullMQ, every change audited. */
@Injectable()
export class ReportsService {
  private readonly logger = new Logger(ReportsService.name);

  constructor(
    @InjectRepository(ReportEntity) private readonly reports: Repository<ReportEntity>,
    @InjectRepository(ReportSendEntity) private readonly sends: Repository<ReportSendEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly scheduler: ReportScheduler,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  async create(projectId: string, actor: Actor, input: CreateReportInput): Promise<ReportEntity> {
    this.validate(input.cron, input.timezone);
    const report = await this.dataSource.transaction(async (manager) => {
      const saved = await manager.getRepository(ReportEntity).save(
        manager.getRepository(ReportEntity).create({
          projectId,
          name: input.name,
          recipients: dedupe(input.recipients),
          cron: input.cron.trim(),
          timezone: input.timezone,
          experiments: input.experiments ? dedupe(input.experiments) : null,
        }),
      );
      await this.audit.record({ projectId, actor, action: 'report.created', targetType: 'report', targetId: saved.id, after: describe(saved) }, manager);
      return saved;
    });
    await this.scheduler.schedule(report);
    return report;
  }

  async list(projectId: string): Promise<ReportEntity[]> {
    return this.reports.find({ where: { projectId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async get(projectId: string, id: string): Promise<ReportEntity> {
    const report = isUuid(id) ? await this.reports.findOne({ where: { projectId, id } }) : null;
    if (!report) throw new ReportNotFoundError(id);
    return report;
  }

  async update(projectId: string, actor: Actor, id: string, patch: UpdateReportInput): Promise<ReportEntity> {
    const current = await this.get(projectId, id);
    this.validate(patch.cron ?? current.cron, patch.timezone ?? current.timezone);
    const report = await this.dataSource.transaction(async (manager) => {
      const before = describe(current);
      const next: ReportEntity = {
        ...current,
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.recipients !== undefined ? { recipients: dedupe(patch.recipients) } : {}),
        ...(patch.cron !== undefined ? { cron: patch.cron.trim() } : {}),
        ...(patch.timezone !== undefined ? { timezone: patch.timezone } : {}),
        ...(patch.experiments !== undefined ? { experiments: patch.experiments ? dedupe(patch.experiments) : null } : {}),
      };
      const saved = await manager.getRepository(ReportEntity).save(next);
      await this.audit.record({ projectId, actor, action: 'report.updated', targetType: 'report', targetId: id, before, after: describe(saved) }, manager);
      return saved;
    });
    if (report.cron !== current.cron || report.timezone !== current.timezone) await this.scheduler.schedule(report);
    return report;
  }

  async remove(projectId: string, actor: Actor, id: string): Promise<void> {
    const current = await this.get(projectId, id);
    await this.dataSource.transaction(async (manager) => {
      await manager.getRepository(ReportEntity).delete({ id, projectId });
      await this.audit.record({ projectId, actor, action: 'report.deleted', targetType: 'report', targetId: id, before: describe(current) }, manager);
    });
    await this.scheduler.unschedule(id);
  }

  /**
   * Records a queued send and enqueues it; the worker updates the record at every attempt.
   * At most REPORT_MANUAL_SENDS_PER_HOUR per report in any hour (429 with Retry-After), counted
   * under the report's row lock so that concurrent requests and replicas cannot overshoot.
   */
  async sendNow(projectId: string, actor: Actor, id: string): Promise<ReportSendEntity> {
    const current = await this.get(projectId, id);
    const sendId = randomUUID();
    const limit = this.config.reports.manualSendsPerHour;
    const send = await this.dataSource.transaction(async (manager) => {
      const report = await manager.findOne(ReportEntity, { where: { id, projectId }, lock: { mode: 'pessimistic_write' } });
      if (!report) throw new ReportNotFoundError(current.id);
      const [recent] = await manager.query<Array<{ sends: number; wait: number | null }>>(
        `SELECT count(*)::int AS sends, ceil(extract(epoch FROM min(created_at) + interval '1 hour' - now()))::int AS wait
           FROM report_send WHERE report_id = $1 AND trigger = 'manual' AND created_at > now() - interval '1 hour'`,
        [id],
      );
      if (recent.sends >= limit) {
        throw new TooManyRequestsError(`This report was sent by hand ${recent.sends} times in the last hour; the limit is ${limit}.`, Math.max(1, recent.wait ?? 1));
      }
      return manager.save(
        manager.create(ReportSendEntity, { id: sendId, reportId: id, jobId: `send-${sendId}`, trigger: 'manual', status: 'queued', recipients: report.recipients, experiments: report.experiments }),
      );
    });
    await this.audit.record({ projectId, actor, action: 'report.send_requested', targetType: 'report', targetId: id, after: { sendId } });
    await this.scheduler.enqueueSend({ projectId, reportId: id, sendId });
    return send;
  }

  async listSends(projectId: string, id: string, limit: number, offset: number): Promise<{ items: ReportSendEntity[]; total: number }> {
    await this.get(projectId, id);
    const [items, total] = await this.sends.findAndCount({ where: { reportId: id }, order: { createdAt: 'DESC', id: 'ASC' }, take: limit, skip: offset });
    return { items, total };
  }

  async nextDue(projectId: string, id: string): Promise<Date | null> {
    await this.get(projectId, id);
    return this.scheduler.nextDue(id);
  }

  /**
   * Puts every report's schedule back into Redis and drops schedules of deleted reports
   * (worker start-up). A report saved before the minimum interval existed, whose cron fires
   * more often, is left unscheduled with a warning until its cron is changed.
   */
  async reconcileSchedules(): Promise<void> {
    const reports = await this.reports.find();
    for (const report of reports) {
      const errors = scheduleErrors(report.cron, report.timezone, this.config.reports.minIntervalSeconds);
      if (errors.length) {
        this.logger.warn({ reportId: report.id, projectId: report.projectId, errors }, 'report not scheduled: its schedule is not valid any more');
        await this.scheduler.unschedule(report.id);
        continue;
      }
      await this.scheduler.schedule(report);
    }
    const known = new Set(reports.map((r) => r.id));
    for (const id of await this.scheduler.scheduledReportIds()) if (!known.has(id)) await this.scheduler.unschedule(id);
  }

  private validate(cron: string, timezone: string): void {
    const errors = scheduleErrors(cron, timezone, this.config.reports.minIntervalSeconds);
    if (errors.length) throw new ValidationFailedError(errors);
  }
}

function dedupe(values: string[]): string[] {
  return [...new Set(values.map((v) => v.trim()))];
}

function isUuid(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}
