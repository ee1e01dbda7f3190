/** The gateway's own outbound client (its pool sizes differ from the webhooks'): docs/adr/0016, "build an OutboundClient per purpose". */
export const GATEWAY_OUTBOUND = Symbol('GATEWAY_OUTBOUND');
