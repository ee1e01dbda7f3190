import { type AddressPolicy, describeRange, parseAddress } from './address-policy';

export interface UrlPolicy {
  /** Plain http is refused unless the operator allows it (OUTBOUND_ALLOW_HTTP). */
  allowHttp: boolean;
  addresses: AddressPolicy;
}

export type UrlCheck =
  | {
      ok: true;
      url: URL;
      /** The host without IPv6 brackets. */
      hostname: string;
      /** An IP literal (already checked), or a name to resolve and check at connect time. */
      literal: boolean;
    }
  | { ok: false; reason: string };

/**
 * What can be decided about a URL without DNS: scheme, credentials, port and literal
 * addresses. The WHATWG parser has already normalised odd IPv4 spellings (127.1,
 * 0x7f.1, 2130706433, %31%32%37.0.0.1) to dotted quads; the address check parses
 * again with ipaddr.js so that a host string from elsewhere gets the same answer.
 * Reasons read after the field name: "url must use https".
 */
export function checkUrl(raw: string, policy: UrlPolicy): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'must be an absolute URL' };
  }
  if (url.protocol === 'http:' && !policy.allowHttp) return { ok: false, reason: 'must use https' };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: policy.allowHttp ? 'must be an http(s) URL' : 'must use https' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not contain credentials (user:password@)' };
  if (url.port === '0') return { ok: false, reason: 'must not use port 0' };
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (hostname === '') return { ok: false, reason: 'must name a host' };
  if (parseAddress(hostname) === null) return { ok: true, url, hostname, literal: false };
  const check = policy.addresses.check(hostname);
  if (!check.allowed) return { ok: false, reason: `points to ${check.address}, ${describeRange(check.range)}` };
  return { ok: true, url, hostname, literal: true };
}
