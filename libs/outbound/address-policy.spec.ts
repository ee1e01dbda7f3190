import { AddressPolicy, parseCidr } from './address-policy';

// These ranges are tested only here, as pure functions: tests never send a packet
// anywhere but loopback.
const policy = new AddressPolicy();

const refused: Array<[string, string, string]> = [
  // IPv4
  ['0.0.0.0', '0.0.0.0', 'unspecified'],
  ['0.1.2.3', '0.1.2.3', 'unspecified'],
  ['10.0.0.1', '10.0.0.1', 'private'],
  ['10.255.255.255', '10.255.255.255', 'private'],
  ['100.64.0.1', '100.64.0.1', 'carrier-grade NAT'],
  ['100.127.255.254', '100.127.255.254', 'carrier-grade NAT'],
  ['127.0.0.1', '127.0.0.1', 'loopback'],
  ['127.255.255.254', '127.255.255.254', 'loopback'],
  ['169.254.169.254', '169.254.169.254', 'link-local'],
  ['172.16.0.1', '172.16.0.1', 'private'],
  ['172.31.255.255', '172.31.255.255', 'private'],
  ['192.0.0.8', '192.0.0.8', 'reserved'],
  ['192.0.2.10', '192.0.2.10', 'documentation'],
  ['192.88.99.1', '192.88.99.1', 'reserved'],
  ['192.168.1.1', '192.168.1.1', 'private'],
  ['198.18.0.1', '198.18.0.1', 'benchmarking'],
  ['198.19.255.255', '198.19.255.255', 'benchmarking'],
  ['198.51.100.7', '198.51.100.7', 'documentation'],
  ['203.0.113.9', '203.0.113.9', 'documentation'],
  ['224.0.0.1', '224.0.0.1', 'multicast'],
  ['239.255.255.250', '239.255.255.250', 'multicast'],
  ['240.0.0.1', '240.0.0.1', 'reserved'],
  ['255.255.255.255', '255.255.255.255', 'broadcast'],
  // Odd IPv4 spellings (inet_aton's): decimal, hex, octal, fewer parts.
  ['2130706433', '127.0.0.1', 'loopback'],
  ['0x7f000001', '127.0.0.1', 'loopback'],
  ['0x7f.1', '127.0.0.1', 'loopback'],
  ['127.1', '127.0.0.1', 'loopback'],
  ['0177.0.0.1', '127.0.0.1', 'loopback'],
  ['017700000001', '127.0.0.1', 'loopback'],
  ['0', '0.0.0.0', 'unspecified'],
  ['0xa9fea9fe', '169.254.169.254', 'link-local'],
  ['10.1', '10.0.0.1', 'private'],
  // IPv6
  ['::', '::', 'unspecified'],
  ['::1', '::1', 'loopback'],
  ['[::1]', '::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', '::1', 'loopback'],
  ['fe80::1', 'fe80::1', 'link-local'],
  ['fe80::1%eth0', 'fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'febf:ffff::1', 'link-local'],
  ['fec0::1', 'fec0::1', 'site-local'],
  ['fc00::1', 'fc00::1', 'unique local'],
  ['fd12:3456:789a::1', 'fd12:3456:789a::1', 'unique local'],
  ['ff02::1', 'ff02::1', 'multicast'],
  ['ff05::1:3', 'ff05::1:3', 'multicast'],
  ['2001:db8::1', '2001:db8::1', 'documentation'],
  ['3fff::1', '3fff::1', 'documentation'],
  ['2001::1', '2001::1', 'reserved'], // Teredo
  ['2001:2::1', '2001:2::1', 'reserved'], // benchmarking
  ['100::1', '100::1', 'reserved'], // discard-only
  ['64:ff9b:1::1', '64:ff9b:1::1', 'reserved'], // local-use NAT64
  ['4000::1', '4000::1', 'reserved'], // outside global unicast 2000::/3
  ['5f00::1', '5f00::1', 'reserved'],
  // IPv4 inside IPv6: mapped (judged as the IPv4 address), compatible, NAT64, 6to4.
  ['::ffff:127.0.0.1', '127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', '127.0.0.1', 'loopback'],
  ['[::ffff:7f00:1]', '127.0.0.1', 'loopback'],
  ['0:0:0:0:0:ffff:a9fe:a9fe', '169.254.169.254', 'link-local'],
  ['::ffff:10.0.0.1', '10.0.0.1', 'private'],
  ['::ffff:0.0.0.0', '0.0.0.0', 'unspecified'],
  ['::7f00:1', '::7f00:1', 'reserved'],
  ['::808:808', '::808:808', 'reserved'],
  ['::127.0.0.1', '127.0.0.1', 'loopback'], // ipaddr.js reads ::a.b.c.d as mapped: judged as the IPv4 address
  ['::ffff:0:7f00:1', '::ffff:0:7f00:1', 'reserved'], // SIIT (RFC 6145)
  ['64:ff9b::7f00:1', '64:ff9b::7f00:1', 'loopback'],
  ['64:ff9b::10.1.2.3', '64:ff9b::a01:203', 'private'],
  ['64:ff9b::a9fe:a9fe', '64:ff9b::a9fe:a9fe', 'link-local'],
  ['2002:7f00:1::1', '2002:7f00:1::1', 'loopback'],
  ['2002:c0a8:101::1', '2002:c0a8:101::1', 'private'],
];

describe('AddressPolicy.check', () => {
  it.each(refused)('refuses %s (%s, %s)', (input, shown, range) => {
    const check = policy.check(input);
    expect(check).toMatchObject({ allowed: false, address: shown, range });
    expect(!check.allowed && check.reason).toMatch(new RegExp(`^${shown.replace(/[.[\]]/g, '\\$&')} is (a|an|the) ${range} address$`));
  });

  it.each([
    ['8.8.8.8', '8.8.8.8'],
    ['1.1.1.1', '1.1.1.1'],
    ['93.184.216.34', '93.184.216.34'],
    ['100.63.255.255', '100.63.255.255'], // just below CGNAT
    ['100.128.0.0', '100.128.0.0'], // just above CGNAT
    ['172.15.255.255', '172.15.255.255'], // just below 172.16/12
    ['172.32.0.0', '172.32.0.0'], // just above
    ['192.0.3.1', '192.0.3.1'],
    ['198.17.255.255', '198.17.255.255'],
    ['198.20.0.0', '198.20.0.0'],
    ['223.255.255.255', '223.255.255.255'],
    ['0x08080808', '8.8.8.8'],
    ['::ffff:8.8.8.8', '8.8.8.8'],
    ['2606:4700:4700::1111', '2606:4700:4700::1111'],
    ['2a00:1450:4001:80e::200e', '2a00:1450:4001:80e::200e'],
    ['64:ff9b::808:808', '64:ff9b::808:808'], // NAT64 of a public IPv4 address
    ['2002:808:808::1', '2002:808:808::1'], // 6to4 of a public IPv4 address
  ])('allows the public address %s', (input, shown) => {
    expect(policy.check(input)).toEqual({ allowed: true, address: shown, allowlisted: false });
  });

  it('refuses what is not an address', () => {
    expect(policy.check('localhost')).toMatchObject({ allowed: false, reason: 'localhost is not an IP address' });
    expect(policy.check('1.2.3.4.5').allowed).toBe(false);
    expect(policy.check('').allowed).toBe(false);
  });
});

describe('the operator allowlist', () => {
  const internal = new AddressPolicy(['127.0.0.1/32', '10.20.0.0/16', 'fd00:1::/32', '192.168.5.5', '0.0.0.0/0']);

  it('opens exactly the listed ranges', () => {
    expect(internal.check('127.0.0.1')).toEqual({ allowed: true, address: '127.0.0.1', allowlisted: true });
    expect(internal.check('::ffff:127.0.0.1')).toEqual({ allowed: true, address: '127.0.0.1', allowlisted: true });
    expect(internal.check('10.20.3.4')).toMatchObject({ allowed: true, allowlisted: true });
    expect(internal.check('fd00:1:2::3')).toMatchObject({ allowed: true, allowlisted: true });
    expect(internal.check('192.168.5.5')).toMatchObject({ allowed: true, allowlisted: true });
    const narrow = new AddressPolicy(['127.0.0.1/32', '10.20.0.0/16', 'fd00:1::/32']);
    expect(narrow.check('127.0.0.2')).toMatchObject({ allowed: false, range: 'loopback' });
    expect(narrow.check('10.21.0.1')).toMatchObject({ allowed: false, range: 'private' });
    expect(narrow.check('fd00:2::1')).toMatchObject({ allowed: false, range: 'unique local' });
    expect(narrow.check('::1')).toMatchObject({ allowed: false, range: 'loopback' });
  });

  it('never opens what is not a destination (unspecified, multicast, broadcast), even under 0.0.0.0/0', () => {
    expect(internal.check('0.0.0.0')).toMatchObject({ allowed: false, range: 'unspecified' });
    expect(internal.check('224.0.0.1')).toMatchObject({ allowed: false, range: 'multicast' });
    expect(internal.check('255.255.255.255')).toMatchObject({ allowed: false, range: 'broadcast' });
    expect(internal.check('169.254.169.254')).toMatchObject({ allowed: true, allowlisted: true });
  });

  it('rejects a range that does not parse', () => {
    expect(() => new AddressPolicy(['10.0.0.0/33'])).toThrow('"10.0.0.0/33" is not a CIDR range');
    expect(() => parseCidr('intranet')).toThrow('"intranet" is not an IP address or CIDR range');
    expect(parseCidr('::1')[1]).toBe(128);
    expect(parseCidr('10.0.0.1')[1]).toBe(32);
  });
});
