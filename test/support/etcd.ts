/** The etcd tests' helpers: the shared throw-away etcd, and what to do without one. */
import { describe, inject, it } from 'vitest';
import { ETCD_INSTALL_HINT } from '../../src/cli/etcd-server.js';

export { startEtcd } from '../../src/cli/etcd-server.js';

/** The shared etcd's client URL ('' without an etcd binary). */
export const etcdEndpoint = (): string => inject('etcdEndpoint');

/**
 * `describe` for tests that need etcd. Without an etcd binary they are
 * skipped (the global setup says once how to install it); under `CI=true` a
 * missing etcd fails the run instead.
 */
export function describeEtcd(name: string, body: () => void): void {
  if (etcdEndpoint() !== '') {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs etcd', () => {
        throw new Error(`CI=true but no etcd binary: ${ETCD_INSTALL_HINT}`);
      });
    });
    return;
  }
  describe.skip(name, body);
}

/** A key prefix no other test uses. */
export const uniquePrefix = (label: string): string => `/rina-test/${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}/`;
