import {
  ErrorCode,
  EvaluationContext,
  JsonValue,
  OpenFeatureEventEmitter,
  Provider,
  ProviderEvents,
  ResolutionDetails,
  StandardResolutionReasons,
} from '@openfeature/server-sdk';
import type { Assignment } from './types';
import type { VerdictClient } from './verdict-client';

export interface VerdictProviderOptions {
  /** Close the Verdict client when OpenFeature closes the provider. Default true. */
  closeClient?: boolean;
}

const REASONS: Record<Assignment['reason'], string> = {
  hashed: StandardResolutionReasons.SPLIT,
  forced: StandardResolutionReasons.TARGETING_MATCH,
  concluded: StandardResolutionReasons.STATIC,
  rolled_back: StandardResolutionReasons.DEFAULT,
  not_allocated: StandardResolutionReasons.DEFAULT,
  other_layer_slot: StandardResolutionReasons.DEFAULT,
  paused: StandardResolutionReasons.DEFAULT,
  stopped: StandardResolutionReasons.DEFAULT,
  unknown_experiment: StandardResolutionReasons.ERROR,
};

/**
 * OpenFeature provider (server paradigm) over a Verdict client: flag key = experiment
 * key, targeting key = unit id, flag variant = Verdict variant key. String flags resolve
 * to the variant key, object flags to the variant's config; booleans and numbers are a
 * type mismatch. Evaluations go through `client.assign`, so exposures and the
 * `onAssignment` hook work exactly as with direct calls. Reason SPLIT for hashed units.
 */
export class VerdictProvider implements Provider {
  readonly metadata = { name: 'verdict' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly client: VerdictClient,
    private readonly options: VerdictProviderOptions = {},
  ) {}

  async initialize(): Promise<void> {
    await this.client.ready();
    this.unsubscribe = this.client.onSnapshot((snapshot) =>
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: snapshot.experiments.map((e) => e.key) }),
    );
  }

  async onClose(): Promise<void> {
    this.unsubscribe?.();
    if (this.options.closeClient !== false) await this.client.close();
    else await this.client.flush();
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, defaultValue, context, (a) => a.variant!);
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, defaultValue, context, (a) => (a.config ?? {}) as T);
  }

  async resolveBooleanEvaluation(_flagKey: string, defaultValue: boolean): Promise<ResolutionDetails<boolean>> {
    return mismatch(defaultValue, 'boolean');
  }

  async resolveNumberEvaluation(_flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return mismatch(defaultValue, 'number');
  }

  private resolve<T>(flagKey: string, defaultValue: T, context: EvaluationContext, value: (a: Assignment) => T): ResolutionDetails<T> {
    const unitId = context.targetingKey;
    if (typeof unitId !== 'string' || unitId === '') {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.TARGETING_KEY_MISSING,
        errorMessage: 'a targeting key (the unit id) is required',
      };
    }
    const attributes = { ...context };
    delete attributes.targetingKey;
    const a = this.client.assign(flagKey, unitId, attributes);
    if (a.variant === null) {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.FLAG_NOT_FOUND,
        errorMessage: `no experiment ${flagKey} in the snapshot`,
      };
    }
    return {
      value: value(a),
      variant: a.variant,
      reason: REASONS[a.reason],
      flagMetadata: { inExperiment: a.inExperiment, phase: a.phase, assignmentReason: a.reason },
    };
  }
}

function mismatch<T>(defaultValue: T, type: string): ResolutionDetails<T> {
  return {
    value: defaultValue,
    reason: StandardResolutionReasons.ERROR,
    errorCode: ErrorCode.TYPE_MISMATCH,
    errorMessage: `Verdict flags resolve to strings (variant key) or objects (variant config), not ${type}`,
  };
}
