// Small pipeline helpers: a byte budget (bounded bytes in flight), an async FIFO and a concurrency limit.
export { ByteBudget } from './budget.ts';
export { AsyncQueue } from './queue.ts';
export { Limiter } from './limiter.ts';
