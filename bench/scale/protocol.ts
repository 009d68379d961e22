/** Messages between the scale scenario and its member hosts (bench/scale/host.ts). */
import type { EnrollmentConfigInput } from '../../src/index.js';

export type HostRequest =
  /**
   * Binds `count` UdpShims on `ip` (a loopback address) and makes one manager on each, named
   * `${prefix}${i}` for i in [from, from + count); member i knows every
   * enroller, starting at `bootstraps[i % length]` (so the first choices
   * spread evenly). Nothing is sent yet.
   */
  | {
      id: number;
      type: 'make';
      ip: string;
      prefix: string;
      from: number;
      count: number;
      bootstraps: string[];
      config: EnrollmentConfigInput;
    }
  /**
   * Starts the members made by the last `make` enrolling, spread evenly over
   * `spreadMs` from now, each as an IPCP daemon does: a first enrollment that
   * fails is tried again a second later until it succeeds, then the monitor
   * keeps it enrolled.
   */
  | { id: number; type: 'go'; spreadMs: number }
  /**
   * Notes every member enrolled now with one of `bootstraps`, and its address:
   * `progress` then says how many of them are enrolled elsewhere again, with
   * that address or another.
   */
  | { id: number; type: 'watch'; bootstraps: string[] }
  | { id: number; type: 'progress' }
  /** Every member's name, and its address and bootstrap if it is enrolled. */
  | { id: number; type: 'view' }
  | { id: number; type: 'close' };

/** A host's counters since it started (members of every `make`). */
export interface HostProgress {
  members: number;
  /** Members enrolled now. */
  enrolled: number;
  /** `enrolled` events so far (first enrollments and re-enrollments). */
  enrollments: number;
  /** Members whose first enrollment has completed. */
  joined: number;
  /** `Date.now()` of the last first enrollment. */
  lastJoinedAt: number | undefined;
  /** `enrol()` calls that rejected, by error code (each tried again a second later). */
  failures: Record<string, number>;
  /** `connection:lost` events, by reason. */
  losses: Record<string, number>;
  /** Members enrolled now, by bootstrap address. */
  byBootstrap: Record<string, number>;
  /** Since the last `watch`: members watched, and those enrolled elsewhere again with the same or another address. */
  watch: { total: number; home: number; moved: number; lastBackAt: number | undefined };
  /** This host process's CPU time (ms) and resident set (bytes). */
  cpuMs: number;
  rss: number;
}

export interface HostReply {
  id: number;
  ready?: boolean;
  /** `make`: the sockets bound (fewer than asked if the open-files limit stopped it). */
  bound?: number;
  progress?: HostProgress;
  /** `view`: [name, address, bootstrap], address and bootstrap null while not enrolled. */
  view?: Array<[string, number | null, string | null]>;
  error?: string;
}
