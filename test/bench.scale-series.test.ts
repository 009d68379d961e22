/**
 * The scale scenario samples its member hosts "once a second", but a sample of 100,000 members on two cores can take
 * 10 s: found 2026-12-07, when status lines labelled "join, 60 s" were printed 200 s into the join. The peak rate and
 * the longest stall are read from each sample's own time, not from its index.
 */
import { expect, it } from 'vitest';
import { longestStall, peakRate } from '../bench/scale/phases.js';

it('reads the peak rate per second of time, not per sample', () => {
  // 5,000 enrollments between samples 10 s apart is 500/s (a per-sample reading would say 5,000); 800 in the next second is the peak.
  expect(peakRate([0, 5000, 5800], [0, 10_000, 11_000])).toBe(800);
  expect(peakRate([0, 5000], [0, 10_000])).toBe(500);
  expect(peakRate([0, 100, 300], [0, 1000, 2000])).toBe(200);
  expect(peakRate([7], [0])).toBe(0);
});

it('measures the longest stall in seconds between the samples that read the same count', () => {
  // Unchanged from 2 s to 14 s (three samples), then from 15 s to 16 s: 12 s.
  expect(longestStall([0, 5, 5, 5, 9, 9], [1000, 2000, 8000, 14_000, 15_000, 16_000])).toBe(12);
  // From sample 2 on: the stall of samples 2-3 only (6 s).
  expect(longestStall([5, 5, 5, 5, 9], [0, 1000, 8000, 14_000, 15_000], 2)).toBe(6);
  expect(longestStall([1, 2, 3], [0, 1000, 2000])).toBe(0);
});
