import { type DynamicModule, Global, Module } from '@nestjs/common';
import { VERDICT_CONFIG, type VerdictConfig } from './config';

/** Provides the validated config to every module; apps build it once at start-up. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: VerdictConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: VERDICT_CONFIG, useValue: config }], exports: [VERDICT_CONFIG] };
  }
}
