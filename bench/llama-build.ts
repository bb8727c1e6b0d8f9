// `npm run bench -- llama-build`: builds the llama-bench anchor (see llama.ts) and prints its path.
import { buildLlamaBench, llamaBenchPath } from './llama.js';

console.log(JSON.stringify({ bench: 'llama-build', llama_bench: llamaBenchPath() ?? buildLlamaBench() }));
