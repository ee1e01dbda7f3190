import { generateApiKey, keyPrefix } from './api-key';

describe('keyPrefix', () => {
  it('shows the scope and 3 random characters of a generated key', () => {
    const key = generateApiKey('admin');
    expect(keyPrefix(key)).toBe(key.slice(0, 12));
    expect(keyPrefix(key)).toMatch(/^vk_admin_.{3}$/);
    expect(keyPrefix(generateApiKey('sdk'))).toMatch(/^vk_sdk_.{5}$/);
  });

  it('shows at most a quarter, and never more than 4 characters, of an operator-chosen key', () => {
    expect(keyPrefix('0123456789abcdef')).toBe('0123');
    expect(keyPrefix('vk_admin_short-operator-key')).toBe('vk_a');
    expect(keyPrefix('a-forty-seven-character-long-operator-chosen-k')).toBe('a-fo');
  });
});
