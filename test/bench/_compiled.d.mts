/** True when this process runs the compiled build (dist/). */
export declare const compiled: boolean;
/** Node arguments that make a spawned process load the same way as this one. */
export declare const compiledNodeArgs: string[];
/** Which code was measured, for a bench's output. */
export declare const measuredCode: string;
