// The generation benchmark's weight storage is the library's (src/models/stored.ts).
export { DECODE_WEIGHTS, storeWeights, type DecodeWeights } from '../src/models/stored.js';
