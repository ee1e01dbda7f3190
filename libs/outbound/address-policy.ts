import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/** Why an address is not a public destination. */
export type AddressRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'carrier-grade NAT'
  | 'link-local'
  | 'unique local'
  | 'site-local'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'reserved';

export type AddressCheck =
  | { allowed: true; address: string; allowlisted: boolean }
  | { allowed: false; address: string; range: AddressRange; reason: string };

/**
 * Ranges that are not public unicast destinations (IANA special-purpose registries,
 * RFC 6890 and successors). The first match wins, so narrower ranges come first.
 * IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address they carry.
 */
const IPV4_RANGES: ReadonlyArray<[string, AddressRange]> = [
  ['0.0.0.0/8', 'unspecified'], // "this network": 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'], // cloud metadata services live here
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
];

const IPV6_RANGES: ReadonlyArray<[string, AddressRange]> = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'], // deprecated IPv4-compatible addresses (::a.b.c.d)
  ['64:ff9b:1::/48', 'reserved'], // local-use NAT64 prefix
  ['100::/64', 'reserved'], // discard-only
  ['2001:db8::/32', 'documentation'],
  ['2001::/23', 'reserved'], // IETF protocol assignments, Teredo (2001::/32), benchmarking
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
];

/** Only global unicast space (2000::/3) is a destination; the rest of IPv6 is unassigned or special. */
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR('2002::/16');

/** Not destinations at all: an operator allowlist cannot make them one. */
const NEVER_ALLOWED: ReadonlySet<AddressRange> = new Set(['unspecified', 'multicast', 'broadcast']);

const ARTICLE: Record<AddressRange, string> = {
  unspecified: 'an unspecified',
  loopback: 'a loopback',
  private: 'a private',
  'carrier-grade NAT': 'a carrier-grade NAT',
  'link-local': 'a link-local',
  'unique local': 'a unique local',
  'site-local': 'a site-local',
  multicast: 'a multicast',
  broadcast: 'the broadcast',
  documentation: 'a documentation',
  benchmarking: 'a benchmarking',
  reserved: 'a reserved',
};

const compiled = (table: ReadonlyArray<[string, AddressRange]>): Array<[Cidr, AddressRange]> =>
  table.map(([cidr, range]) => [ipaddr.parseCIDR(cidr), range]);
const V4 = compiled(IPV4_RANGES);
const V6 = compiled(IPV6_RANGES);

/**
 * Parses one CIDR of an operator allowlist. A bare address means that address alone;
 * IPv4 ranges are written as IPv4 (an IPv4-mapped IPv6 address is matched as IPv4).
 */
export function parseCidr(text: string): Cidr {
  const value = text.trim();
  if (value.includes('/')) {
    if (!ipaddr.isValidCIDR(value)) throw new Error(`"${value}" is not a CIDR range`);
    const [address, bits] = ipaddr.parseCIDR(value);
    return [address, bits];
  }
  if (!ipaddr.isValid(value)) throw new Error(`"${value}" is not an IP address or CIDR range`);
  const address = ipaddr.parse(value);
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

/** Parses an IP address in any spelling ipaddr.js knows (127.1, 0x7f.1, 2130706433, [::1]); null when it is not one. */
export function parseAddress(text: string): Address | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!ipaddr.isValid(bare)) return null;
  const address = ipaddr.parse(bare);
  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d as far as where the packets go.
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

/** The special range an address belongs to, or null for a public unicast address. */
export function classifyAddress(address: Address): AddressRange | null {
  if (address.kind() === 'ipv4') return firstMatch(address, V4);
  const v6 = address as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return classifyAddress(v6.toIPv4Address());
  // NAT64 (RFC 6052) and 6to4 (RFC 3056) carry an IPv4 destination: judge that one.
  if (v6.match(NAT64_WELL_KNOWN)) return classifyAddress(ipv4From(v6.parts[6], v6.parts[7]));
  if (v6.match(SIX_TO_FOUR)) return classifyAddress(ipv4From(v6.parts[1], v6.parts[2]));
  const range = firstMatch(v6, V6);
  if (range) return range;
  return v6.match(IPV6_GLOBAL_UNICAST) ? null : 'reserved';
}

/**
 * Which addresses outbound requests may reach: public unicast ones, plus the operator's
 * allowlist (for receivers inside the deployment's own network). Pure: no DNS, no I/O.
 */
export class AddressPolicy {
  private readonly allowed: Cidr[];

  /** Throws on a range that does not parse. */
  constructor(allowedCidrs: readonly string[] = []) {
    this.allowed = allowedCidrs.map(parseCidr);
  }

  check(text: string): AddressCheck {
    const address = parseAddress(text);
    if (!address) return { allowed: false, address: text, range: 'reserved', reason: `${text} is not an IP address` };
    const shown = address.toString();
    const range = classifyAddress(address);
    if (range === null) return { allowed: true, address: shown, allowlisted: false };
    if (!NEVER_ALLOWED.has(range) && this.allowed.some((cidr) => cidr[0].kind() === address.kind() && address.match(cidr))) {
      return { allowed: true, address: shown, allowlisted: true };
    }
    return { allowed: false, address: shown, range, reason: `${shown} is ${describeRange(range)}` };
  }
}

/** "a loopback address", "the broadcast address"... */
export function describeRange(range: AddressRange): string {
  return `${ARTICLE[range]} address`;
}

function firstMatch(address: Address, table: Array<[Cidr, AddressRange]>): AddressRange | null {
  for (const [cidr, range] of table) if (address.match(cidr)) return range;
  return null;
}

function ipv4From(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}
