/**
 * The zod schema of the DataTransferConstants an enroller sends in
 * M_START_R: the fields as the wire carries them (uint32 widths and limits,
 * a uint64 threshold, booleans).
 *
 * @module
 */
import * as z from 'zod/mini';
import { integer, lazySchema } from '../util/schema.js';
import type { DataTransferConstants } from './types.js';

const uint32 = () =>
  z.optional(
    z
      .number({ error: 'must be a finite number' })
      .check(integer, z.gte(0, { error: 'must be >= 0' }), z.lte(0xffffffff, { error: 'must fit in 32 bits' })),
  );
const flag = () => z.optional(z.boolean({ error: 'must be a boolean' }));

/** DataTransferConstants as the wire carries them: uint32 fields, a uint64 threshold, booleans. */
export const dtConstantsSchema = lazySchema(
  () =>
    z.strictObject({
      /** `max_pdu_size` (field 1): the largest PDU (rlite: 65536). */
      maxPduSize: uint32(),
      /** `address_width` (field 2): bytes of a DIF address, 1 to 8 (rlite: 4); every address must fit it. */
      addressWidth: z.optional(
        z
          .number({ error: 'must be a finite number' })
          .check(integer, z.gte(1, { error: 'must be 1 to 8' }), z.lte(8, { error: 'must be 1 to 8' })),
      ),
      /** `port_id_width` (field 3): width of a port id (rlite: 2). */
      portIdWidth: uint32(),
      /** `cep_id_width` (field 4): width of a connection-endpoint id (rlite: 2). */
      cepIdWidth: uint32(),
      /** `qos_id_width` (field 5): width of a QoS id (rlite: 2). */
      qosIdWidth: uint32(),
      /** `seq_num_width` (field 6): width of a sequence number (rlite: 4). */
      seqNumWidth: uint32(),
      /** `length_width` (field 7): width of the PDU length field (rlite: 2). */
      lengthWidth: uint32(),
      /** `seq_rollover_thresh` (field 8, uint64): the sequence-number rollover threshold (ours: 2^31). */
      seqRolloverThresh: z.optional(
        z
          .bigint({ error: 'must be a bigint' })
          .check(z.gte(0n, { error: 'must be >= 0' }), z.lte(2n ** 64n - 1n, { error: 'must fit in 64 bits' })),
      ),
      /** `max_pdu_lifetime` (field 9): the maximum PDU lifetime (rlite: 4000). */
      maxPduLifetime: uint32(),
      /** `concatenation_enabled` (field 10): whether concatenation is on (default: false). */
      concatenationEnabled: flag(),
      /** `fragmentation_enabled` (field 11): whether fragmentation is on (default: false). */
      fragmentationEnabled: flag(),
      /** `integrity_enabled` (field 12): whether integrity protection is on (default: false). */
      integrityEnabled: flag(),
      /** `max_rtx_time` (field 13): the maximum retransmission time (rlite: 1000). */
      maxRtxTime: uint32(),
      /** `max_ack_delay` (field 14): the maximum acknowledgement delay (rlite: 200). */
      maxAckDelay: uint32(),
      /** `rate_width` (field 15): width of a rate field. */
      rateWidth: uint32(),
      /** `frame_width` (field 16): width of a frame field. */
      frameWidth: uint32(),
      /** `ctrl_seq_num_width` (field 17): width of a control sequence number (rlite: 4). */
      ctrlSeqNumWidth: uint32(),
    }) satisfies z.ZodMiniType<DataTransferConstants>,
);
