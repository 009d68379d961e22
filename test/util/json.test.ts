import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duplicateKey } from '../../src/util/json.js';

describe('duplicateKey', () => {
  it('finds a key named twice in one object, at any depth, compared as decoded', () => {
    expect(duplicateKey('{"a": 5, "b": 7, "a": 6}')).toBe('a');
    expect(duplicateKey('{"x": {"bindings": {"a": 1, "\\u0061": 2}}}')).toBe('a');
    expect(duplicateKey('[{"a": 1}, {"a": 2}]')).toBeUndefined(); // two objects
    expect(duplicateKey('{"a": {"a": 1}}')).toBeUndefined(); // nested: another object
    expect(duplicateKey('{"a": "a:", "b": ["a", "a"]}')).toBeUndefined(); // values, not keys
    expect(duplicateKey('{"q\\"": 1, "q\\"" : 2}')).toBe('q"');
    expect(duplicateKey('{"k\\\\": 1, "k\\\\":2}')).toBe('k\\');
    expect(duplicateKey('{\n\t"a"\r\n :1,"b":{"c":[{"d":1,"e":{"d":2}}],"d":3}}')).toBeUndefined();
  });

  it('says nothing of any JSON.stringify output; finds a key repeated into any object of it', () => {
    const objects = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1 });
    fc.assert(
      fc.property(objects, fc.jsonValue({ maxDepth: 2 }), fc.boolean(), (object, value, pretty) => {
        const text = JSON.stringify(object, null, pretty ? 2 : undefined);
        expect(duplicateKey(text)).toBeUndefined();
        const key = Object.keys(object)[0] as string;
        // The same key once more, at the end of the top object.
        const repeated = `${text.slice(0, text.lastIndexOf('}'))},${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}}`;
        expect(duplicateKey(repeated)).toBe(key);
      }),
    );
  });
});
