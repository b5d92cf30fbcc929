// Small pipeline helpers: a byte budget (bounded bytes in flight) and an async FIFO.
export { ByteBudget } from './budget.ts';
export { AsyncQueue } from './queue.ts';
