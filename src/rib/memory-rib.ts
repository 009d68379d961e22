/**
 * @module
 */
import type { ObjValue } from '../cdap/types.js';
import { RibError } from '../errors.js';
import { type Rib, type RibObject, ribNameProblem } from './rib.js';

function checkName(name: unknown): asserts name is string {
  const problem = ribNameProblem(name);
  if (problem !== undefined) throw new RibError(problem);
}

function copyValue(value: ObjValue): ObjValue {
  const out: ObjValue = { ...value };
  if (value.byteval != null) out.byteval = value.byteval.slice();
  return out;
}

/** Up to this many objects the RIB is a sorted array sized to fit; past it, a Map (sorted when listed). */
const SMALL_RIB = 32;

const byName = (a: RibObject, b: RibObject): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A RIB in memory. Objects are copied in and out, so callers cannot change its contents behind its back. */
export class MemoryRib implements Rib {
  /**
   * Sorted by name while small: a member's RIB holds a few objects, and a Map's table alone is ~150 B in
   * each of ten thousand members. A Map once it holds more than {@link SMALL_RIB}, so that a large RIB's
   * writes stay O(1).
   */
  #objects: RibObject[] | Map<string, RibObject> = [];

  read(name: string): RibObject | undefined {
    checkName(name);
    const objects = this.#objects;
    const object = Array.isArray(objects) ? objects.find((o) => o.name === name) : objects.get(name);
    return object === undefined ? undefined : { ...object, value: copyValue(object.value) };
  }

  write(object: RibObject): void {
    if (object === null || typeof object !== 'object') throw new RibError('a RIB object must be an object');
    checkName(object.name);
    if (typeof object.class !== 'string' || object.class === '') {
      throw new RibError(`invalid RIB object "${object.name}": class must be a non-empty string`);
    }
    if (object.value === null || typeof object.value !== 'object') {
      throw new RibError(`invalid RIB object "${object.name}": value must be an ObjValue object`);
    }
    if (object.value.byteval != null && !(object.value.byteval instanceof Uint8Array)) {
      throw new RibError(`invalid RIB object "${object.name}": value.byteval must be a Uint8Array`);
    }
    const stored = { name: object.name, class: object.class, value: copyValue(object.value) };
    const objects = this.#objects;
    if (!Array.isArray(objects)) {
      objects.set(stored.name, stored);
      return;
    }
    const at = objects.findIndex((o) => o.name >= stored.name);
    if (at >= 0 && objects[at]?.name === stored.name) objects[at] = stored;
    // (concat makes an array of the exact size; a spread one has room to grow: 136 B more for a RIB of 2, per member)
    else if (objects.length < SMALL_RIB)
      this.#objects = at < 0 ? objects.concat([stored]) : objects.slice(0, at).concat([stored], objects.slice(at));
    else this.#objects = new Map([...objects, stored].map((o) => [o.name, o]));
  }

  delete(name: string): boolean {
    checkName(name);
    const objects = this.#objects;
    if (!Array.isArray(objects)) return objects.delete(name);
    const at = objects.findIndex((o) => o.name === name);
    if (at < 0) return false;
    this.#objects = objects.slice(0, at).concat(objects.slice(at + 1));
    return true;
  }

  list(prefix = ''): RibObject[] {
    if (typeof prefix !== 'string') throw new RibError('a RIB prefix must be a string');
    const objects = this.#objects;
    const sorted = Array.isArray(objects) ? objects : [...objects.values()].sort(byName);
    return sorted.filter((o) => o.name.startsWith(prefix)).map((o) => ({ ...o, value: copyValue(o.value) }));
  }

  /** How many objects the RIB holds. */
  get size(): number {
    const objects = this.#objects;
    return Array.isArray(objects) ? objects.length : objects.size;
  }
}
