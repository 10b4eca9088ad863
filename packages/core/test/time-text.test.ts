import { describe, expect, it } from 'vitest';
import { dateText, durationText } from '../src/lib/time-text.js';

describe('times in messages', () => {
  it('shows a NumericDate as an ISO 8601 date, and one outside Date as the number', () => {
    expect(dateText(1_796_104_472)).toBe('2026-12-01T05:54:32Z');
    expect(dateText(0)).toBe('1970-01-01T00:00:00Z');
    expect(dateText(1e20)).toBe('100000000000000000000');
  });

  it('shows a span of seconds as days, hours, minutes and seconds', () => {
    expect(durationText(0)).toBe('0s');
    expect(durationText(42.4)).toBe('42s');
    expect(durationText(3601)).toBe('1h0m1s');
    expect(durationText(90)).toBe('1m30s');
    expect(durationText(90_061)).toBe('1d1h1m1s');
    expect(durationText(-5)).toBe('0s');
  });
});
