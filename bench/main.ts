// `npm run bench -- NAME [flags]`: runs bench/NAME.ts, which prints one JSON object per line.
const [name, ...rest] = process.argv.slice(2);
if (!name) {
  console.error('usage: npm run bench -- <gemm|train|gen|...> [flags]');
  process.exit(2);
}
process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
await import(`./${name}.ts`);
