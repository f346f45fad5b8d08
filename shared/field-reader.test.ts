import { describe, expect, it } from 'vitest';
import { fieldReader } from './field-reader.js';

describe('fieldReader', () => {
  it('reads each named field in order, NaN where absent or not a number', () => {
    const read = fieldReader(['a', 'b_ms', 'c']);
    const into = new Float64Array(3);
    read(JSON.parse('{"c":0,"a":1.5,"x":9}'), into);
    expect([...into]).toEqual([1.5, Number.NaN, 0]);
    read({ a: '7', b_ms: -2, c: null }, into);
    expect([...into]).toEqual([Number.NaN, -2, Number.NaN]);
  });

  it('refuses a name that is not an identifier (the names become code)', () => {
    expect(() => fieldReader(['a', 'b; process.exit(1)'])).toThrow(/not an identifier/);
    expect(() => fieldReader(['constructor.x'])).toThrow(/not an identifier/);
  });
});
