import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { ReportsService } from '../../../libs/reports/reports.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { CreateReportDto, SendsQueryDto, UpdateReportDto } from './report.dto';
import { ReportListResponse, ReportResponse, ReportSendListResponse, ReportSendResponse } from './report-response.dto';

@ApiTags('reports')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/reports')
export class ReportsController {
  constructor(private readonly reports: ReportsService) {}

  @Post()
  @ApiOperation({ summary: 'Subscribe recipients to scheduled report emails' })
  @ApiResponse({ status: 201, type: ReportResponse })
  @ApiResponse({ status: 400, description: 'A field is invalid (cron, timezone, recipients...): named in errors' })
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateReportDto): Promise<ReportResponse> {
    return ReportResponse.from(await this.reports.create(principal.projectId, toActor(principal), body));
  }

  @Get()
  @ApiOperation({ summary: "The project's report subscriptions" })
  @ApiResponse({ status: 200, type: ReportListResponse })
  async list(@CurrentPrincipal() principal: Principal): Promise<ReportListResponse> {
    return { items: (await this.reports.list(principal.projectId)).map(ReportResponse.from) };
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a report; a new cron or time zone reschedules it' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 200, type: ReportResponse })
  async update(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: UpdateReportDto): Promise<ReportResponse> {
    return ReportResponse.from(await this.reports.update(principal.projectId, toActor(principal), id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a report and its schedule' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 204 })
  remove(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    return this.reports.remove(principal.projectId, toActor(principal), id);
  }

  @Post(':id/send')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send the report now; the returned send record is updated as the worker sends it' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 202, type: ReportSendResponse })
  async send(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<ReportSendResponse> {
    return ReportSendResponse.from(await this.reports.sendNow(principal.projectId, toActor(principal), id));
  }

  @Get(':id/sends')
  @ApiOperation({ summary: 'What was sent, newest first: when, to whom, outcome, attempts, error' })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 200, type: ReportSendListResponse })
  async sends(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query() query: SendsQueryDto): Promise<ReportSendListResponse> {
    const { items, total } = await this.reports.listSends(principal.projectId, id, query.limit ?? 50, query.offset ?? 0);
    return { items: items.map(ReportSendResponse.from), total };
  }
}
