/** The upstream caller of offline runs (its own outbound pool, like the gateway's: docs/adr/0016, "an OutboundClient per purpose"). */
export const EVALUATION_CALLER = Symbol('EVALUATION_CALLER');
