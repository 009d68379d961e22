import { expect, it } from 'vitest';
import { EnrollmentManager, MemoryRib, type Shim } from 'rina-enrollment';
import { createMockShim, createScriptedEnroller } from 'rina-enrollment/testing';

// Your IPCP's code under test: it joins the DIF and returns its address.
async function joinDif(shim: Shim, name: string): Promise<number | undefined> {
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, config: { maxRetries: 1 } });
  await mgr.enrolWithBootstrap('bootstrap');
  return mgr.address;
}

it('joins the DIF with the address the enroller gives', async () => {
  const shim = createMockShim();
  createScriptedEnroller(shim, { assign: 1042 });
  await expect(joinDif(shim, 'ipcp-a')).resolves.toBe(1042);
});

it('reports a refusal', async () => {
  const shim = createMockShim();
  createScriptedEnroller(shim, { start: { reject: 'address pool exhausted' } });
  await expect(joinDif(shim, 'ipcp-a')).rejects.toMatchObject({ reason: 'address pool exhausted' });
});
