import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../../libs/auth/principal';
import { GatewayService } from '../../../libs/gateway/gateway.service';
import { DEFAULT_LINK_HOURS } from '../../../libs/reports/page-link';
import { ResultsPageService } from '../../../libs/reports/results-page.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Public, Scopes } from '../security/scopes.decorator';
import { PageLinkQueryDto, PageLinkResponse, ResultsPageQueryDto } from './page-link.dto';

/**
 * The results page for people. Browsers cannot send a Bearer key, so the page is opened
 * with a short-lived signed link (docs/adr/0010) that admins ask for, and emails carry.
 */
@ApiTags('results page')
@Controller()
export class ResultsPageController {
  constructor(
    private readonly page: ResultsPageService,
    private readonly gateway: GatewayService,
  ) {}

  @Get('v1/experiments/:key/page-link')
  @Scopes('admin')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'A signed link to the results page, valid for `hours` (default 7 days)' })
  @ApiParam({ name: 'key' })
  @ApiResponse({ status: 200, type: PageLinkResponse })
  link(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Query() query: PageLinkQueryDto): PageLinkResponse {
    const { url, expiresAt } = this.page.link(principal.projectId, key, query.hours ?? DEFAULT_LINK_HOURS);
    return { url, expiresAt: expiresAt.toISOString() };
  }

  @Get('experiments/:key')
  @Public()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  @Header('x-frame-options', 'DENY')
  @Header('referrer-policy', 'no-referrer')
  @ApiOperation({ summary: 'The results page (HTML): verdict, per-variant table and charts, upstream instances; auto-refreshes every 30 s' })
  @ApiParam({ name: 'key' })
  @ApiProduces('text/html')
  @ApiResponse({ status: 200, description: 'HTML' })
  @ApiResponse({ status: 401, description: 'No token, a bad signature, or an expired link' })
  show(@Param('key') key: string, @Query() query: ResultsPageQueryDto): Promise<string> {
    // The pools' state is this replica's: the gateway's, handed to the page.
    return this.page.renderSigned(key, query.token, (projectId, experiment) => this.gateway.instanceStates(projectId, experiment));
  }
}
