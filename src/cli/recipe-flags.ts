// A stage's CLI flags derived from its recipe schema: one flag per recipe key (nested keys joined,
// lora.r → --lora-r), help text from the key's description, and values handed back as overrides
// that the same schema validates (src/train/recipes.ts), so a key is defined once.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import type { Override } from '../train/recipes.js';

type Leaf = { path: string[]; flag: string; schema: z.ZodTypeAny; help: string };

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Strips defaults, optionals and refinements down to the schema that says what a value is. */
function core(s: z.ZodTypeAny): z.ZodTypeAny {
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s._def.schema;
    else return s;
  }
}

function objectShape(s: z.ZodTypeAny): Record<string, z.ZodTypeAny> | null {
  const c = core(s);
  return c instanceof z.ZodObject ? (c.shape as Record<string, z.ZodTypeAny>) : null;
}

/** Every settable key of a recipe schema (the `stage` tag excluded), with its flag name. */
export function recipeLeaves(schema: z.ZodTypeAny, aliases: Readonly<Record<string, string>> = {}): Leaf[] {
  const out: Leaf[] = [];
  const walk = (s: z.ZodTypeAny, path: string[], help: string) => {
    const shape = objectShape(s);
    // a nested object of settings is a group of flags, except free-form maps (model overrides)
    if (shape && Object.keys(shape).length && path.length < 2 && !(path.length === 1 && path[0] === 'model')) {
      for (const [k, v] of Object.entries(shape)) if (!(path.length === 0 && k === 'stage')) walk(v, [...path, k], v.description ?? '');
      return;
    }
    const key = path.join('.');
    out.push({ path, flag: aliases[key] ?? path.map(kebab).join('-'), schema: s, help });
  };
  walk(schema, [], '');
  return out;
}

function describeType(s: z.ZodTypeAny): string {
  const c = core(s);
  if (c instanceof z.ZodEnum) return (c.options as string[]).join(' | ');
  if (c instanceof z.ZodArray) {
    const el = core(c.element);
    return el instanceof z.ZodEnum ? `comma-separated: ${(el.options as string[]).join(',')}` : 'comma-separated list';
  }
  return '';
}

/** Parses one flag value from its string form by the schema's kind; the schema checks the rest. */
function parseValue(flag: string, s: z.ZodTypeAny, raw: unknown): unknown {
  const c = core(s);
  if (typeof raw !== 'string') return raw; // booleans from commander
  if (c instanceof z.ZodNumber) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`--${flag}: expected a number, got '${raw}'`);
    return n;
  }
  if (c instanceof z.ZodArray) return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (c instanceof z.ZodObject || c instanceof z.ZodRecord) {
    try { return JSON.parse(raw); } catch { throw new Error(`--${flag}: expected a JSON object, got '${raw}'`); }
  }
  return raw;
}

/** Adds a flag for every recipe key of `schema` to `cmd`. */
export function addRecipeFlags(cmd: Command, schema: z.ZodTypeAny, aliases: Readonly<Record<string, string>> = {}): Command {
  for (const leaf of recipeLeaves(schema, aliases)) {
    const c = core(leaf.schema), kind = describeType(leaf.schema), help = [leaf.help, kind].filter(Boolean).join(' — ') || leaf.path.join('.');
    if (c instanceof z.ZodBoolean) {
      cmd.addOption(new Option(`--${leaf.flag}`, `${help} (recipe key ${leaf.path.join('.')})`));
      cmd.addOption(new Option(`--no-${leaf.flag}`, `turn off --${leaf.flag}`));
    } else {
      const arg = c instanceof z.ZodNumber ? '<n>' : c instanceof z.ZodArray ? '<list>' : c instanceof z.ZodObject ? '<json>' : '<value>';
      cmd.addOption(new Option(`--${leaf.flag} ${arg}`, `${help} (recipe key ${leaf.path.join('.')})`));
    }
  }
  return cmd;
}

/** The recipe overrides the user gave as flags (commander's parsed options in). */
export function recipeOverrides(opts: Record<string, unknown>, schema: z.ZodTypeAny, aliases: Readonly<Record<string, string>> = {}): Override[] {
  const out: Override[] = [];
  for (const leaf of recipeLeaves(schema, aliases)) {
    const camel = leaf.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (opts[camel] === undefined) continue;
    out.push({ path: leaf.path, value: parseValue(leaf.flag, leaf.schema, opts[camel]), source: `--${leaf.flag}` });
  }
  return out;
}
