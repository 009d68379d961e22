/** The error classes say what failed and what to do. */
import { describe, expect, it } from 'vitest';
import { EnrollmentError, MissingDependencyError } from '../src/index.js';

describe('MissingDependencyError', () => {
  it('names the part, the packages and the install command', () => {
    const err = new MissingDependencyError('rina-enrollment/etcd', ['etcd3']);
    expect(err).toBeInstanceOf(EnrollmentError);
    expect(err.code).toBe('MISSING_DEPENDENCY');
    expect(err.name).toBe('MissingDependencyError');
    expect(err.packages).toEqual(['etcd3']);
    expect(err.installCommand).toBe('npm install etcd3');
    expect(err.message).toBe(
      'rina-enrollment/etcd needs etcd3, an optional peer dependency of rina-enrollment: install it with `npm install etcd3`',
    );
    expect(new MissingDependencyError('x', ['a', 'b']).installCommand).toBe('npm install a b');
  });
});
