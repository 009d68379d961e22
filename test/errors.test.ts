/** The error classes say what failed and what to do. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as lib from '../src/index.js';
import {
  type AnyEnrollmentError,
  EnrollmentError,
  type EnrollmentErrorCode,
  type EnrollmentEvents,
  EnrollmentRejectedError,
  EnrollmentTimeoutError,
  isEnrollmentError,
  MissingDependencyError,
} from '../src/index.js';

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

// Found by a new user's review (2026-12-07): after `instanceof EnrollmentError` the `code` was `any` (the base class was
// generic), so a misspelt code compiled and a code's test gave no access to its class's fields. These lines are checked
// by `tsc --noEmit` (npm test runs it first): each @ts-expect-error fails the build if the error it expects is gone.
describe('the error types, as a TypeScript caller narrows them', () => {
  it('instanceof gives the union of codes; isEnrollmentError and a code test give the class and its fields', () => {
    const caught: unknown = new EnrollmentRejectedError(-3, 'name in use');
    if (!(caught instanceof EnrollmentError)) throw new Error('unreachable');
    expectTypeOf(caught.code).toEqualTypeOf<EnrollmentErrorCode>();
    // @ts-expect-error a code no error has
    expect(caught.code === 'ENROLMENT_TIMEOUT_TYPO').toBe(false);
    expect(isEnrollmentError(caught)).toBe(true);
    if (!isEnrollmentError(caught)) return;
    if (caught.code === 'ENROLLMENT_REJECTED') {
      expectTypeOf(caught).toEqualTypeOf<EnrollmentRejectedError>();
      expect([caught.result, caught.reason]).toEqual([-3, 'name in use']);
    }
    const timeout: unknown = new EnrollmentTimeoutError(3, 'b');
    if (isEnrollmentError(timeout) && timeout.code === 'ENROLLMENT_TIMEOUT') expect(timeout.attempts).toBe(3);
    expect(isEnrollmentError(new Error('not ours'))).toBe(false);
    expectTypeOf<EnrollmentEvents['reenroll:failure'][0]['error']>().toEqualTypeOf<AnyEnrollmentError>();
  });

  it('every code has its class in the union, and the library exports one class per code', () => {
    // a code whose class were missing from the union would not narrow: the union's codes are every code
    expectTypeOf<AnyEnrollmentError['code']>().toEqualTypeOf<EnrollmentErrorCode>();
    const everyCode: Record<EnrollmentErrorCode, true> = {
      ENROLLMENT_TIMEOUT: true,
      NO_BOOTSTRAP_PEERS: true,
      ENROLLMENT_REJECTED: true,
      ENROLLMENT_ABORTED: true,
      ENROLLMENT_IN_PROGRESS: true,
      MANAGER_CLOSED: true,
      PROTOCOL_ERROR: true,
      SHIM_ERROR: true,
      RIB_ERROR: true,
      STORE_ERROR: true,
      NOT_ENROLLED: true,
      IPCP_NAME_NOT_SET: true,
      CONFIG_ERROR: true,
      DISCOVERY_ERROR: true,
      MISSING_DEPENDENCY: true,
    };
    const classes = Object.values(lib).filter((v) => typeof v === 'function' && v.prototype instanceof EnrollmentError);
    expect(classes.length).toBe(Object.keys(everyCode).length);
  });
});
