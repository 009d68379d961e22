import { expect, it, onTestFinished } from 'vitest';
import { EnrollmentManager, MemoryRib, type Shim } from 'rina-enrollment';
import { createMockShim, createScriptedEnroller } from 'rina-enrollment/testing';

// Your IPCP's code under test: it joins the DIF and returns its manager (closed when the IPCP stops).
async function joinDif(shim: Shim, name: string): Promise<EnrollmentManager> {
  const mgr = new EnrollmentManager({ shim, rib: new MemoryRib(), ipcpName: name, config: { maxRetries: 1 } });
  await mgr.enrolWithBootstrap('bootstrap');
  return mgr;
}

it('joins the DIF with the address the enroller gives', async () => {
  const shim = createMockShim();
  createScriptedEnroller(shim, { assign: 1042 });
  const mgr = await joinDif(shim, 'ipcp-a');
  onTestFinished(() => mgr.close()); // an enrolled manager keeps sending keepalives until closed
  expect(mgr.address).toBe(1042);
});

it('reports a refusal', async () => {
  const shim = createMockShim();
  createScriptedEnroller(shim, { start: { reject: 'address pool exhausted' } });
  await expect(joinDif(shim, 'ipcp-a')).rejects.toMatchObject({ reason: 'address pool exhausted' });
});
