/**
 * @module
 */
import type { ObjValue } from '../cdap/types.js';
import { RibError } from '../errors.js';
import type { Rib, RibObject } from './rib.js';

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !name.startsWith('/') || name.length < 2) {
    throw new RibError(`invalid RIB object name ${JSON.stringify(name)}: must be a path starting with "/"`);
  }
}

function copyValue(value: ObjValue): ObjValue {
  const out: ObjValue = { ...value };
  if (value.byteval !== undefined) out.byteval = value.byteval.slice();
  return out;
}

/** A RIB in memory. Objects are copied in and out, so callers cannot change its contents behind its back. */
export class MemoryRib implements Rib {
  readonly #objects = new Map<string, RibObject>();

  read(name: string): RibObject | undefined {
    checkName(name);
    const object = this.#objects.get(name);
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
    this.#objects.set(object.name, { name: object.name, class: object.class, value: copyValue(object.value) });
  }

  delete(name: string): boolean {
    checkName(name);
    return this.#objects.delete(name);
  }

  list(prefix = ''): RibObject[] {
    if (typeof prefix !== 'string') throw new RibError('a RIB prefix must be a string');
    return [...this.#objects.values()]
      .filter((o) => o.name.startsWith(prefix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((o) => ({ ...o, value: copyValue(o.value) }));
  }

  /** How many objects the RIB holds. */
  get size(): number {
    return this.#objects.size;
  }
}
