export * from './snapshot';
export * from './murmur3';
export * from './bucket';
export * from './assign';
