/**
 * rina-enrollment: enrollment of RINA IPC processes into a DIF.
 *
 * This file is the package's whole public surface.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export {
  AuthType,
  type AuthValue,
  CdapFlags,
  type CdapMessage,
  type DataTransferConstants,
  type EnrollmentInfo,
  type ObjValue,
  OpCode,
} from './cdap/types.js';
export { decodeCdapMessage, decodeEnrollmentInfo, encodeCdapMessage, encodeEnrollmentInfo } from './cdap/codec.js';
