/** Another enroller process: loads a FileAddressStore on argv[2], says whether it got the lock, and stays alive until killed. */
import { FileAddressStore } from '../../src/store/file-address-store.js';

const store = new FileAddressStore(process.argv[2] as string);
try {
  await store.load();
  process.stdout.write('locked\n');
} catch (err) {
  process.stdout.write(`refused: ${(err as Error).message}\n`);
}
setInterval(() => undefined, 1000); // alive (holding what it got) until killed
