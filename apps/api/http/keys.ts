/** Experiment, variant and layer keys: what URLs, SDK snapshots and reports refer to them by. */
export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const KEY_MESSAGE = 'must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit';
