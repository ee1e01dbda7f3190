import { AddressPolicy } from './address-policy';
import { checkUrl } from './url-policy';

const strict = { allowHttp: false, addresses: new AddressPolicy() };
const lenient = { allowHttp: true, addresses: new AddressPolicy(['127.0.0.1/32']) };

describe('checkUrl', () => {
  it.each([
    ['not a url', 'must be an absolute URL'],
    ['/relative/path', 'must be an absolute URL'],
    ['http://hooks.example.com/x', 'must use https'],
    ['HTTP://hooks.example.com/x', 'must use https'],
    ['ftp://hooks.example.com/x', 'must use https'],
    ['file:///etc/passwd', 'must use https'],
    ['gopher://127.0.0.1:6379/_INFO', 'must use https'],
    ['javascript:alert(1)', 'must use https'],
    ['https://user:pass@hooks.example.com/x', 'must not contain credentials (user:password@)'],
    ['https://user@hooks.example.com/x', 'must not contain credentials (user:password@)'],
    ['https://:pass@hooks.example.com/x', 'must not contain credentials (user:password@)'],
    ['https://hooks.example.com:0/x', 'must not use port 0'],
    ['https://hooks.example.com:99999/x', 'must be an absolute URL'],
    ['https://hooks.example.com:abc/x', 'must be an absolute URL'],
    ['https://[fe80::1%25eth0]/', 'must be an absolute URL'],
  ])('refuses %s: %s', (url, reason) => {
    expect(checkUrl(url, strict)).toEqual({ ok: false, reason });
  });

  it.each([
    ['https://127.0.0.1/', '127.0.0.1, a loopback address'],
    ['https://127.0.0.1:5432/', '127.0.0.1, a loopback address'],
    ['https://127.0.0.1:6379/', '127.0.0.1, a loopback address'],
    ['https://2130706433/', '127.0.0.1, a loopback address'],
    ['https://0x7f.1/', '127.0.0.1, a loopback address'],
    ['https://127.1/', '127.0.0.1, a loopback address'],
    ['https://0177.0.0.1/', '127.0.0.1, a loopback address'],
    ['https://%31%32%37.0.0.1/', '127.0.0.1, a loopback address'],
    ['https://１２７.０.０.１/', '127.0.0.1, a loopback address'],
    ['https://0.0.0.0/', '0.0.0.0, an unspecified address'],
    ['https://0/', '0.0.0.0, an unspecified address'],
    ['https://169.254.169.254/latest/meta-data/', '169.254.169.254, a link-local address'],
    ['https://10.0.0.1/', '10.0.0.1, a private address'],
    ['https://100.64.1.1/', '100.64.1.1, a carrier-grade NAT address'],
    ['https://[::1]/', '::1, a loopback address'],
    ['https://[0:0:0:0:0:0:0:1]:8443/', '::1, a loopback address'],
    ['https://[::]/', '::, an unspecified address'],
    ['https://[::ffff:7f00:1]/', '127.0.0.1, a loopback address'],
    ['https://[::ffff:127.0.0.1]/', '127.0.0.1, a loopback address'],
    ['https://[::ffff:169.254.169.254]/', '169.254.169.254, a link-local address'],
    ['https://[::127.0.0.1]/', '::7f00:1, a reserved address'],
    ['https://[64:ff9b::127.0.0.1]/', '64:ff9b::7f00:1, a loopback address'],
    ['https://[fd00::1]/', 'fd00::1, a unique local address'],
    ['https://[fe80::1]/', 'fe80::1, a link-local address'],
    ['https://[ff02::1]/', 'ff02::1, a multicast address'],
  ])('refuses the literal address in %s', (url, where) => {
    expect(checkUrl(url, strict)).toEqual({ ok: false, reason: `points to ${where}` });
  });

  it('passes a public literal address, already checked', () => {
    expect(checkUrl('https://8.8.8.8/hook', strict)).toMatchObject({ ok: true, hostname: '8.8.8.8', literal: true });
    expect(checkUrl('https://[2606:4700:4700::1111]:8443/hook', strict)).toMatchObject({ ok: true, hostname: '2606:4700:4700::1111', literal: true });
  });

  it('leaves names to be resolved and checked at connect time', () => {
    const check = checkUrl('https://Hooks.Example.com/verdict?token=abc', strict);
    expect(check).toMatchObject({ ok: true, hostname: 'hooks.example.com', literal: false });
    expect(checkUrl('https://localhost/', strict)).toMatchObject({ ok: true, hostname: 'localhost', literal: false });
  });

  it('allows http and allowlisted addresses only when the operator says so', () => {
    expect(checkUrl('http://127.0.0.1:8080/hook', lenient)).toMatchObject({ ok: true, literal: true });
    expect(checkUrl('http://127.0.0.2:8080/hook', lenient)).toEqual({ ok: false, reason: 'points to 127.0.0.2, a loopback address' });
    expect(checkUrl('ftp://127.0.0.1/', lenient)).toEqual({ ok: false, reason: 'must be an http(s) URL' });
    expect(checkUrl('http://user:pw@127.0.0.1:8080/', lenient)).toEqual({ ok: false, reason: 'must not contain credentials (user:password@)' });
    expect(checkUrl('http://0.0.0.0:8080/', { allowHttp: true, addresses: new AddressPolicy(['0.0.0.0/0']) })).toEqual({
      ok: false,
      reason: 'points to 0.0.0.0, an unspecified address',
    });
  });
});
