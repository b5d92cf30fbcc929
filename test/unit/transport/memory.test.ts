import { MemoryNetwork } from '../../../shared/transport/index.ts';
import { transportContract } from './contract.ts';

transportContract('memory', async (ids) => {
  const network = new MemoryNetwork();
  const transports = ids.map((id) => network.join(id, 16 * 1024 * 1024));
  return { transports, cleanup: async () => void (await Promise.all(transports.map((t) => t.close()))) };
}).run();
