/**
 * The library under test. By default `npm run bench` measures the build users
 * get (src built by scripts/build.mjs into bench/.dist, see run.ts); with `--src` it
 * measures src/ through tsx, whose esbuild transform wraps every named
 * closure in `__name()` (keepNames) and so costs CPU and heap the published
 * package does not. RINA_BENCH_LIB holds the index.js to load; the child
 * process inherits it.
 *
 * Import values from here and types from src/index.js (`import type`, erased).
 */
import type * as Lib from '../../src/index.js';

export const LIB_PATH = process.env.RINA_BENCH_LIB;
const lib = (await import(LIB_PATH ?? '../../src/index.js')) as typeof Lib;

export const {
  Enroller,
  EnrollmentManager,
  MemoryNetwork,
  MemoryRib,
  UdpShim,
  MemoryAddressStore,
  FileAddressStore,
  encodeCdapMessage,
  decodeCdapMessage,
  encodeEnrollmentInfo,
  decodeEnrollmentInfo,
  OpCode,
  DEFAULT_DT_CONSTANTS,
  KEEPALIVE_OBJECT,
  DEFAULT_RECV_BUFFER_BYTES,
} = lib;

/** What is being measured, for the report. */
export const LIB_LABEL =
  LIB_PATH === undefined ? 'src/ through tsx (esbuild keepNames)' : 'the build of src/ as published (scripts/build.mjs)';

/** The generated protobuf-es schema, for the codec scenario's floor rows (the build inlines it, so from src/). */
export const GEN_PATH = '../../src/cdap/gen/cdap_pb.js';
