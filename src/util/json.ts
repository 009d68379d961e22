/**
 * What `JSON.parse` does not say about a text it accepts.
 *
 * @module
 */

/** JSON's whitespace: space, tab, line feed, carriage return. */
function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * The first key that one object of `text` names twice, if any (`JSON.parse`
 * keeps the last of them, silently). `text` must be JSON that `JSON.parse`
 * accepts; keys are compared as decoded (`"a"` and `"\u0061"` are one key).
 */
export function duplicateKey(text: string): string | undefined {
  // The keys of each object open at this point (undefined for an array).
  const open: Array<Set<string> | undefined> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) open.push(new Set());
    else if (c === 0x5b /* [ */) open.push(undefined);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) open.pop();
    else if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (let d = text.charCodeAt(end); d !== 0x22; d = text.charCodeAt(end)) {
        if (d === 0x5c /* \ */) {
          escaped = true;
          end++;
        }
        end++;
      }
      let next = end + 1;
      while (next < text.length && isJsonSpace(text.charCodeAt(next))) next++;
      const keys = open[open.length - 1];
      // (in JSON, only a key is followed by a colon)
      if (keys !== undefined && text.charCodeAt(next) === 0x3a /* : */) {
        const key = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        if (keys.has(key)) return key;
        keys.add(key);
      }
      i = end;
    }
  }
  return undefined;
}
